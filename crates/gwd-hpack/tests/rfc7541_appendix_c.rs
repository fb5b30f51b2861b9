//! Every example of RFC 7541 Appendix C: decoded fields and the dynamic table
//! (entries, in index order, and size) after each block.

use gwd_hpack::Decoder;
use gwd_hpack::internal::integer;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

type Pairs = Vec<(String, String)>;

fn pairs(list: &[(&str, &str)]) -> Pairs {
    list.iter()
        .map(|&(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn decode(d: &mut Decoder, block: &[u8]) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    d.decode(block, usize::MAX, &mut |f| {
        out.push((
            String::from_utf8(f.name.to_vec()).unwrap(),
            String::from_utf8(f.value.to_vec()).unwrap(),
            f.never_index,
        ))
    })
    .unwrap();
    out
}

fn dynamic_table(d: &Decoder) -> Pairs {
    (0..d.table_entries())
        .map(|i| {
            let (n, v) = d.entry(62 + i).unwrap();
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

struct Step {
    block: &'static str,
    fields: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

fn run_series(table_size: usize, steps: &[Step]) {
    let mut d = Decoder::new(table_size);
    for (i, s) in steps.iter().enumerate() {
        let got = decode(&mut d, &hex(s.block));
        let got: Pairs = got
            .into_iter()
            .map(|(n, v, never)| {
                assert!(!never, "step {i}");
                (n, v)
            })
            .collect();
        assert_eq!(got, pairs(s.fields), "fields after step {i}");
        assert_eq!(dynamic_table(&d), pairs(s.table), "table after step {i}");
        assert_eq!(d.table_size(), s.size, "table size after step {i}");
        assert!(d.entry(62 + d.table_entries()).is_none());
    }
}

// C.1: integer representation.

#[test]
fn c_1_integers() {
    let mut out = bytes::BytesMut::new();
    integer::encode(10, 5, 0, &mut out);
    assert_eq!(&out[..], [0b0000_1010]);
    assert_eq!(integer::decode(&out, 5), Ok((10, 1)));

    let mut out = bytes::BytesMut::new();
    integer::encode(1337, 5, 0, &mut out);
    assert_eq!(&out[..], [0b0001_1111, 0b1001_1010, 0b0000_1010]);
    assert_eq!(integer::decode(&out, 5), Ok((1337, 3)));

    let mut out = bytes::BytesMut::new();
    integer::encode(42, 8, 0, &mut out);
    assert_eq!(&out[..], [0b0010_1010]);
    assert_eq!(integer::decode(&out, 8), Ok((42, 1)));
}

// C.2: header field representations, each on a fresh decoder.

#[test]
fn c_2_1_literal_with_indexing() {
    let mut d = Decoder::new(4096);
    let got = decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    );
    assert_eq!(got, [("custom-key".into(), "custom-header".into(), false)]);
    assert_eq!(dynamic_table(&d), pairs(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);
}

#[test]
fn c_2_2_literal_without_indexing() {
    let mut d = Decoder::new(4096);
    let got = decode(&mut d, &hex("040c 2f73 616d 706c 652f 7061 7468"));
    assert_eq!(got, [(":path".into(), "/sample/path".into(), false)]);
    assert_eq!(d.table_entries(), 0);
    assert_eq!(d.table_size(), 0);
}

#[test]
fn c_2_3_literal_never_indexed() {
    let mut d = Decoder::new(4096);
    let got = decode(&mut d, &hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
    assert_eq!(got, [("password".into(), "secret".into(), true)]);
    assert_eq!(d.table_entries(), 0);
    assert_eq!(d.table_size(), 0);
}

#[test]
fn c_2_4_indexed() {
    let mut d = Decoder::new(4096);
    let got = decode(&mut d, &hex("82"));
    assert_eq!(got, [(":method".into(), "GET".into(), false)]);
    assert_eq!(d.table_entries(), 0);
}

// C.3 and C.4: requests, without and with Huffman.

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ1_TABLE: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ2_TABLE: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ3_TABLE: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

#[test]
fn c_3_requests_without_huffman() {
    run_series(
        4096,
        &[
            Step {
                block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                fields: REQ1,
                table: REQ1_TABLE,
                size: 57,
            },
            Step {
                block: "8286 84be 5808 6e6f 2d63 6163 6865",
                fields: REQ2,
                table: REQ2_TABLE,
                size: 110,
            },
            Step {
                block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                fields: REQ3,
                table: REQ3_TABLE,
                size: 164,
            },
        ],
    );
}

#[test]
fn c_4_requests_with_huffman() {
    run_series(
        4096,
        &[
            Step {
                block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                fields: REQ1,
                table: REQ1_TABLE,
                size: 57,
            },
            Step {
                block: "8286 84be 5886 a8eb 1064 9cbf",
                fields: REQ2,
                table: REQ2_TABLE,
                size: 110,
            },
            Step {
                block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                fields: REQ3,
                table: REQ3_TABLE,
                size: 164,
            },
        ],
    );
}

// C.5 and C.6: responses with a 256-byte table, causing evictions.

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", DATE1),
    ("location", LOC),
];
const RESP1_TABLE: &[(&str, &str)] = &[
    ("location", LOC),
    ("date", DATE1),
    ("cache-control", "private"),
    (":status", "302"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", DATE1),
    ("location", LOC),
];
const RESP2_TABLE: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", LOC),
    ("date", DATE1),
    ("cache-control", "private"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", DATE2),
    ("location", LOC),
    ("content-encoding", "gzip"),
    ("set-cookie", COOKIE),
];
const RESP3_TABLE: &[(&str, &str)] = &[
    ("set-cookie", COOKIE),
    ("content-encoding", "gzip"),
    ("date", DATE2),
];

#[test]
fn c_5_responses_without_huffman() {
    run_series(
        256,
        &[
            Step {
                block: "4803 3330 3258 0770 7269 7661 7465 611d
                        4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                        2032 303a 3133 3a32 3120 474d 546e 1768
                        7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                        6c65 2e63 6f6d",
                fields: RESP1,
                table: RESP1_TABLE,
                size: 222,
            },
            Step {
                block: "4803 3330 37c1 c0bf",
                fields: RESP2,
                table: RESP2_TABLE,
                size: 222,
            },
            Step {
                block: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420
                        3230 3133 2032 303a 3133 3a32 3220 474d
                        54c0 5a04 677a 6970 7738 666f 6f3d 4153
                        444a 4b48 514b 425a 584f 5157 454f 5049
                        5541 5851 5745 4f49 553b 206d 6178 2d61
                        6765 3d33 3630 303b 2076 6572 7369 6f6e
                        3d31",
                fields: RESP3,
                table: RESP3_TABLE,
                size: 215,
            },
        ],
    );
}

#[test]
fn c_6_responses_with_huffman() {
    run_series(
        256,
        &[
            Step {
                block: "4882 6402 5885 aec3 771a 4b61 96d0 7abe
                        9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                        2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
                        e9ae 82ae 43d3",
                fields: RESP1,
                table: RESP1_TABLE,
                size: 222,
            },
            Step {
                block: "4883 640e ffc1 c0bf",
                fields: RESP2,
                table: RESP2_TABLE,
                size: 222,
            },
            Step {
                block: "88c1 6196 d07a be94 1054 d444 a820 0595
                        040b 8166 e084 a62d 1bff c05a 839b d9ab
                        77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
                        3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                        9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                fields: RESP3,
                table: RESP3_TABLE,
                size: 215,
            },
        ],
    );
}

//! Property tests: encoder/decoder round trips (with peer table size changes),
//! the decoder against a model of the dynamic table, Huffman and integer round
//! trips, and "arbitrary input never panics".

use bytes::BytesMut;
use gwd_hpack::internal::{huffman, integer};
use gwd_hpack::{Decoder, Encoder, Field, STATIC_TABLE};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct OwnedField {
    name: Vec<u8>,
    value: Vec<u8>,
    never_index: bool,
}

fn name_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Static names, so indexed names and full matches get exercised.
        (0..STATIC_TABLE.len()).prop_map(|i| STATIC_TABLE[i].0.to_vec()),
        proptest::collection::vec(prop_oneof![b'a'..=b'z', Just(b'-'), b'0'..=b'9'], 1..20),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0..STATIC_TABLE.len()).prop_map(|i| STATIC_TABLE[i].1.to_vec()),
        Just(Vec::new()),
        proptest::collection::vec(0x20u8..0x7f, 0..60),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

fn field_strategy() -> impl Strategy<Value = OwnedField> {
    (name_strategy(), value_strategy(), any::<bool>()).prop_map(|(name, value, never_index)| {
        OwnedField {
            name,
            value,
            never_index,
        }
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// The peer changed (and we then saw the ACK of) its table size.
    SetSize(usize),
    Block(Vec<OwnedField>),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => prop_oneof![Just(0usize), Just(4096), 0usize..10_000].prop_map(Op::SetSize),
        3 => proptest::collection::vec(field_strategy(), 0..12).prop_map(Op::Block),
    ]
}

type Decoded = Vec<(Vec<u8>, Vec<u8>, bool)>;

fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Decoded, gwd_hpack::DecodeError> {
    let mut out = Vec::new();
    d.decode(block, usize::MAX, &mut |f| {
        out.push((f.name.to_vec(), f.value.to_vec(), f.never_index))
    })?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the encoder writes, a decoder that follows the same SETTINGS
    /// (strictly checking size updates) reads back the same fields, names
    /// lowercased (the encoder writes them so, as HTTP/2 requires).
    #[test]
    fn encoder_output_decodes_to_the_same_fields(ops in proptest::collection::vec(op_strategy(), 1..12)) {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new(4096);
        for op in ops {
            match op {
                Op::SetSize(n) => {
                    enc.set_peer_max_table_size(n);
                    dec.set_max_table_size(n);
                }
                Op::Block(fields) => {
                    let mut out = BytesMut::new();
                    enc.encode(
                        fields.iter().map(|f| Field { name: &f.name, value: &f.value, never_index: f.never_index }),
                        &mut out,
                    );
                    let got = decode_all(&mut dec, &out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let want: Decoded = fields
                        .into_iter()
                        .map(|f| (f.name.to_ascii_lowercase(), f.value, f.never_index))
                        .collect();
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(dec.table_entries(), 0);
                    prop_assert_eq!(dec.current_max_table_size(), dec.max_table_size());
                }
            }
        }
    }

    /// Random bytes, on a decoder in a random state, never panic, and the table
    /// invariants hold whatever the outcome.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        limit in prop_oneof![Just(0usize), Just(64), Just(4096), 0usize..100_000],
        list_limit in prop_oneof![Just(usize::MAX), 0usize..2000],
        blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..6),
    ) {
        let mut d = Decoder::new(limit);
        for block in blocks {
            let _ = d.decode(&block, list_limit, &mut |f| {
                assert!(f.name.len() + f.value.len() + 32 <= list_limit || list_limit == usize::MAX);
            });
            prop_assert!(d.table_size() <= d.current_max_table_size());
            prop_assert!(d.current_max_table_size() <= d.max_table_size());
            prop_assert_eq!(d.table_entries() == 0, d.table_size() == 0);
        }
    }

    /// Blocks made mostly of valid-looking representations (so decoding gets
    /// deep) never panic either.
    #[test]
    fn decoding_structured_garbage_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                (0x80u8..=0xff).prop_map(|b| vec![b]),
                (0x40u8..0x80, proptest::collection::vec(any::<u8>(), 0..30)).prop_map(|(b, mut v)| { v.insert(0, b); v }),
                (0u8..0x20, 0u8..20, proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(b, l, mut v)| { v.insert(0, l); v.insert(0, b); v }),
                (0x20u8..0x40).prop_map(|b| vec![b]),
            ],
            0..20,
        ),
    ) {
        let block: Vec<u8> = parts.concat();
        let mut d = Decoder::new(256);
        let _ = d.decode(&block, 1000, &mut |_| {});
        prop_assert!(d.table_size() <= 256);
    }

    /// The decoder's table matches a simple model under random insertions,
    /// references and size updates.
    #[test]
    fn dynamic_table_matches_model(
        max in 0usize..600,
        steps in proptest::collection::vec(
            prop_oneof![
                (proptest::collection::vec(b'a'..=b'z', 0..12), proptest::collection::vec(any::<u8>(), 0..80), any::<bool>())
                    .prop_map(|(n, v, h)| Step::Insert(n, v, h)),
                (0usize..20).prop_map(Step::Reference),
                (0usize..20).prop_map(Step::InsertWithDynamicName),
                (0usize..700).prop_map(Step::Resize),
            ],
            1..40,
        ),
    ) {
        let mut d = Decoder::new(max);
        // Newest first.
        let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut model_max = max;
        let model_size = |m: &[(Vec<u8>, Vec<u8>)]| m.iter().map(|(n, v)| n.len() + v.len() + 32).sum::<usize>();
        let insert = |m: &mut Vec<(Vec<u8>, Vec<u8>)>, max: usize, n: Vec<u8>, v: Vec<u8>| {
            m.insert(0, (n, v));
            while model_size(m) > max {
                m.pop();
            }
        };
        for step in steps {
            let mut block = BytesMut::new();
            let expect: Option<(Vec<u8>, Vec<u8>)>;
            match step {
                Step::Insert(n, v, huff) => {
                    block.extend_from_slice(&[0x40]);
                    put_string(&n, huff, &mut block);
                    put_string(&v, huff, &mut block);
                    insert(&mut model, model_max, n.clone(), v.clone());
                    expect = Some((n, v));
                }
                Step::Reference(k) => {
                    if k >= model.len() {
                        integer::encode(62 + k, 7, 0x80, &mut block);
                        prop_assert!(decode_all(&mut d, &block).is_err());
                        continue;
                    }
                    integer::encode(62 + k, 7, 0x80, &mut block);
                    expect = Some(model[k].clone());
                }
                Step::InsertWithDynamicName(k) => {
                    if k >= model.len() {
                        continue;
                    }
                    integer::encode(62 + k, 6, 0x40, &mut block);
                    put_string(b"v", false, &mut block);
                    let n = model[k].0.clone();
                    insert(&mut model, model_max, n.clone(), b"v".to_vec());
                    expect = Some((n, b"v".to_vec()));
                }
                Step::Resize(n) => {
                    integer::encode(n, 5, 0x20, &mut block);
                    if n > max {
                        prop_assert!(decode_all(&mut d, &block).is_err());
                        // The failed block changed nothing.
                        prop_assert_eq!(d.table_entries(), model.len());
                        continue;
                    }
                    model_max = n;
                    while model_size(&model) > model_max {
                        model.pop();
                    }
                    expect = None;
                }
            }
            let got = decode_all(&mut d, &block).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want: Decoded = expect.into_iter().map(|(n, v)| (n, v, false)).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(d.table_entries(), model.len());
            prop_assert_eq!(d.table_size(), model_size(&model));
            for (i, (n, v)) in model.iter().enumerate() {
                prop_assert_eq!(d.entry(62 + i), Some((&n[..], &v[..])));
            }
        }
    }

    #[test]
    fn huffman_round_trip(src in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut coded = BytesMut::new();
        huffman::encode(&src, &mut coded);
        prop_assert_eq!(coded.len(), huffman::encoded_len(&src));
        let mut back = Vec::new();
        huffman::decode(&coded, &mut back).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, src);
    }

    /// Huffman decoding of arbitrary bytes never panics, and whenever it
    /// succeeds the input was the canonical encoding of the output (strict
    /// padding rules make the code a bijection).
    #[test]
    fn huffman_decode_arbitrary(src in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut out = Vec::new();
        if huffman::decode(&src, &mut out).is_ok() {
            let mut again = BytesMut::new();
            huffman::encode(&out, &mut again);
            prop_assert_eq!(&again[..], &src[..]);
        }
    }

    #[test]
    fn integer_round_trip(value in prop_oneof![0usize..300, 0usize..=integer::MAX_INTEGER], prefix in 1u8..=8, flags in any::<u8>()) {
        let mut out = BytesMut::new();
        integer::encode(value, prefix, flags, &mut out);
        prop_assert_eq!(out.len(), integer::encoded_len(value, prefix));
        let mask = ((1u16 << prefix) - 1) as u8;
        prop_assert_eq!(out[0] & !mask, flags & !mask);
        prop_assert_eq!(integer::decode(&out, prefix), Ok((value, out.len())));
    }
}

#[derive(Debug, Clone)]
enum Step {
    Insert(Vec<u8>, Vec<u8>, bool),
    Reference(usize),
    InsertWithDynamicName(usize),
    Resize(usize),
}

fn put_string(s: &[u8], huff: bool, out: &mut BytesMut) {
    if huff {
        integer::encode(huffman::encoded_len(s), 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        integer::encode(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

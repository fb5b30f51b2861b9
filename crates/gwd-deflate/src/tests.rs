//! Round trips through flate2's decoders (zlib-rs), every format, every
//! shape of input and call pattern the encoder has a path for.

use std::io::{Read, Write};

use proptest::prelude::*;

use super::*;

const FORMATS: [Format; 3] = [Format::Gzip, Format::Zlib, Format::Raw];

/// Decodes one whole stream, failing on any error or trailing garbage.
fn decode(format: Format, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    match format {
        Format::Gzip => {
            let mut d = flate2::bufread::GzDecoder::new(&mut rest);
            d.read_to_end(&mut out).expect("valid gzip");
        }
        Format::Zlib => {
            let mut d = flate2::bufread::ZlibDecoder::new(&mut rest);
            d.read_to_end(&mut out).expect("valid zlib");
        }
        Format::Raw => {
            let mut d = flate2::bufread::DeflateDecoder::new(&mut rest);
            d.read_to_end(&mut out).expect("valid deflate");
        }
    }
    assert!(rest.is_empty(), "{} bytes after the stream", rest.len());
    out
}

/// Decodes a stream that may not be finished: what its bytes so far
/// make decodable.
fn decode_prefix(format: Format, data: &[u8]) -> Vec<u8> {
    fn run<W: Write>(mut w: W, data: &[u8]) -> W {
        w.write_all(data).expect("valid so far");
        w.flush().expect("valid so far");
        w
    }
    match format {
        Format::Gzip => run(flate2::write::GzDecoder::new(Vec::new()), data)
            .get_ref()
            .clone(),
        Format::Zlib => run(flate2::write::ZlibDecoder::new(Vec::new()), data)
            .get_ref()
            .clone(),
        Format::Raw => run(flate2::write::DeflateDecoder::new(Vec::new()), data)
            .get_ref()
            .clone(),
    }
}

/// Prose-like text: words from a small vocabulary, so matches are short
/// and near, as in a web page.
fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the ",
        "proxy ",
        "gateway ",
        "compresses ",
        "answers ",
        "of ",
        "<p>",
        "</p>\n",
        "HTTP/1.1 ",
        "a ",
        "server ",
        "visitor ",
        "stream, ",
        "header ",
        "body ",
        "and ",
    ];
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS[rng.below(16)].as_bytes());
    }
    out.truncate(len);
    out
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// xorshift64*: deterministic inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Compresses `data` in chunks of `chunk` bytes, flushing after every
/// `flush_every` chunks (0: never), and checks the round trip and the
/// counters; returns the stream.
fn round_trip(format: Format, data: &[u8], chunk: usize, flush_every: usize) -> Vec<u8> {
    let mut enc = Encoder::new(format);
    let mut out = Vec::new();
    for (n, c) in data.chunks(chunk.max(1)).enumerate() {
        enc.encode(c, &mut out);
        if flush_every > 0 && (n + 1) % flush_every == 0 {
            enc.flush(&mut out);
        }
    }
    enc.finish(&mut out);
    assert_eq!(enc.total_in(), data.len() as u64);
    assert_eq!(enc.total_out(), out.len() as u64);
    assert_eq!(decode(format, &out), data, "{format:?}, chunks of {chunk}");
    out
}

#[test]
fn an_encoder_is_small() {
    assert!(std::mem::size_of::<Encoder>() <= 32);
}

#[test]
fn empty_and_tiny_inputs() {
    for format in FORMATS {
        let empty = round_trip(format, b"", 1, 0);
        let expected = match format {
            Format::Gzip => 10 + 2 + 8,
            Format::Zlib => 2 + 2 + 4,
            Format::Raw => 2,
        };
        assert_eq!(empty.len(), expected, "{format:?}");
        round_trip(format, b"x", 1, 0);
        round_trip(format, b"xyz", 1, 1);
        round_trip(format, b"abcd", 1, 0);
        round_trip(format, b"abcdabcd", 8, 0);
        assert_eq!(
            compress(format, b"hello"),
            round_trip(format, b"hello", 5, 0)
        );
    }
}

#[test]
fn text_compresses_and_round_trips() {
    let t = text(100_000, 7);
    for format in FORMATS {
        let z = round_trip(format, &t, 16 * 1024, 0);
        assert!(z.len() < t.len() / 3, "{format:?}: {}", z.len());
    }
}

#[test]
fn repetitive_input_uses_long_and_overlapping_matches() {
    for format in FORMATS {
        // Distance 1 (a run), lengths 258 back to back.
        let run = vec![b'a'; 100_000];
        let z = round_trip(format, &run, 100_000, 0);
        // A 258-byte match is 8 + 5 bits.
        assert!(z.len() < 1_000, "{format:?}: {}", z.len());
        // A short period, then a long one, then both mixed.
        let period: Vec<u8> = (0..50_000).map(|i| b"abc"[i % 3]).collect();
        round_trip(format, &period, 50_000, 0);
        let long: Vec<u8> = (0..70_000).map(|i| (i % 1_000) as u8).collect();
        round_trip(format, &long, 70_000, 0);
        // Matches ending exactly at the end of a piece and of the input.
        for len in [
            4, 5, 7, 8, 9, 15, 16, 17, 258, 259, 262, 65_535, 65_536, 65_540,
        ] {
            round_trip(format, &vec![0u8; len], len, 0);
        }
    }
}

#[test]
fn random_bytes_are_stored_with_bounded_expansion() {
    for format in FORMATS {
        for (len, chunk) in [
            (1, 1),
            (100, 100),
            (16_384, 16_384),
            (200_000, 65_536),
            (200_000, 70_000),
        ] {
            let r = random(len, len as u64);
            let z = round_trip(format, &r, chunk, 0);
            // 5 bytes per stored block of at most 65,535 bytes, plus the
            // format's header and trailer and the final block.
            let pieces: usize = r.chunks(chunk).map(|c| c.len().div_ceil(65_535)).sum();
            let bound = len + 5 * pieces + 2 + 20;
            assert!(z.len() <= bound, "{format:?} {len}: {} > {bound}", z.len());
        }
    }
}

#[test]
fn random_then_text_in_one_chunk() {
    // A stored piece after fixed ones and the reverse, in one call.
    let mut mixed = text(70_000, 3);
    mixed.extend_from_slice(&random(70_000, 4));
    mixed.extend_from_slice(&text(70_000, 5));
    for format in FORMATS {
        round_trip(format, &mixed, mixed.len(), 0);
        round_trip(format, &mixed, 1_000, 3);
    }
}

#[test]
fn every_chunk_size_with_flushes() {
    let t = text(20_000, 11);
    for format in FORMATS {
        for chunk in [1, 2, 3, 4, 5, 7, 8, 13, 64, 100, 1_000, 4_096, 16_384] {
            for flush_every in [0, 1, 3] {
                round_trip(format, &t, chunk, flush_every);
            }
        }
    }
}

#[test]
fn one_mebibyte() {
    let mut t = text(1 << 20, 13);
    // Some stretches that do not compress.
    t[300_000..340_000].copy_from_slice(&random(40_000, 9));
    for format in FORMATS {
        round_trip(format, &t, 1 << 20, 0);
        round_trip(format, &t, 16 * 1024, 4);
        round_trip(format, &random(1 << 20, 21), 1 << 20, 0);
    }
}

#[test]
fn a_flush_makes_everything_so_far_decodable() {
    for format in FORMATS {
        let mut enc = Encoder::new(format);
        let mut out = Vec::new();
        let mut expected = Vec::new();
        for part in [&b"first part\n"[..], b"second, second, second\n", b"", b"3"] {
            enc.encode(part, &mut out);
            expected.extend_from_slice(part);
            enc.flush(&mut out);
            assert_eq!(decode_prefix(format, &out), expected, "{format:?}");
            assert_eq!(&out[out.len() - 4..], &[0, 0, 0xff, 0xff], "{format:?}");
            // A second flush has nothing to add.
            let len = out.len();
            enc.flush(&mut out);
            assert_eq!(out.len(), len);
        }
        enc.finish(&mut out);
        assert_eq!(decode(format, &out), expected);
        // Flush and finish after the finish do nothing.
        let len = out.len();
        enc.flush(&mut out);
        enc.finish(&mut out);
        assert_eq!(out.len(), len);
        assert!(enc.is_finished());
    }
}

#[test]
#[should_panic(expected = "encode after finish")]
fn encode_after_finish_panics() {
    let mut enc = Encoder::new(Format::Raw);
    let mut out = Vec::new();
    enc.finish(&mut out);
    enc.encode(b"late", &mut out);
}

#[test]
fn gzip_header_and_trailer_fields() {
    let data = text(70_000, 17);
    let z = compress(Format::Gzip, &data);
    assert_eq!(&z[..10], &GZIP_HEADER);
    let n = z.len();
    let crc = u32::from_le_bytes(z[n - 8..n - 4].try_into().unwrap());
    let isize = u32::from_le_bytes(z[n - 4..].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&data));
    assert_eq!(isize, 70_000);
    let mut gz = flate2::read::GzDecoder::new(&z[..]);
    let mut back = Vec::new();
    gz.read_to_end(&mut back).unwrap();
    let header = gz.header().unwrap();
    assert_eq!(header.operating_system(), 255);
    assert!(header.filename().is_none() && header.mtime() == 0);
}

#[test]
fn zlib_header_and_trailer() {
    let data = text(10_000, 19);
    let z = compress(Format::Zlib, &data);
    assert_eq!((u32::from(z[0]) << 8 | u32::from(z[1])) % 31, 0);
    let n = z.len();
    assert_eq!(
        u32::from_be_bytes(z[n - 4..].try_into().unwrap()),
        adler::update(adler::INITIAL, &data)
    );
}

#[test]
fn output_does_not_depend_on_other_streams() {
    // Another stream on the same thread leaves the shared table full of
    // entries; the same input must still give the same bytes.
    let t = text(30_000, 23);
    let first = compress(Format::Raw, &t);
    let _ = compress(Format::Raw, &text(60_000, 29));
    let _ = compress(Format::Raw, &t[5..]);
    assert_eq!(compress(Format::Raw, &t), first);
}

#[test]
fn the_ratio_on_text_is_close_to_a_fixed_code() {
    // Against flate2 level 1 on the same chunks: within a fixed code's
    // reach (guards a silent regression to all-literals).
    let t = text(100_000, 31);
    let ours = round_trip(Format::Gzip, &t, 16 * 1024, 0).len();
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    z.write_all(&t).unwrap();
    let theirs = z.finish().unwrap().len();
    assert!(ours < theirs * 2, "{ours} vs flate2's {theirs}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any data, any chunking, flushes anywhere: flate2 decodes it back.
    #[test]
    fn any_input_any_calls(
        format in prop::sample::select(FORMATS.to_vec()),
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..3_000),
            prop::collection::vec(prop::sample::select(b"ab \n<>".to_vec()), 0..20_000),
            (1usize..70_000, any::<u64>()).prop_map(|(n, s)| text(n, s)),
        ],
        cuts in prop::collection::vec((1usize..5_000, any::<bool>()), 1..20),
    ) {
        let mut enc = Encoder::new(format);
        let mut out = Vec::new();
        let mut rest = &data[..];
        let mut i = 0;
        while !rest.is_empty() {
            let (n, flush) = cuts[i % cuts.len()];
            let (c, r) = rest.split_at(n.min(rest.len()));
            enc.encode(c, &mut out);
            if flush {
                enc.flush(&mut out);
            }
            rest = r;
            i += 1;
        }
        enc.finish(&mut out);
        prop_assert_eq!(enc.total_out(), out.len() as u64);
        prop_assert_eq!(decode(format, &out), data.clone());
        // Bounded expansion: a stored block's 5 bytes per call and
        // 65,535 bytes, the flushes' 6 bytes, header and trailer.
        prop_assert!(out.len() <= data.len() + 11 * (i + 1) + 5 * (data.len() / 65_535) + 20);
    }
}

//! Every fuzz target, run as an ordinary test: each seed in
//! `seeds/<target>/` (hand-written openings, minimized corpora, and any
//! input a fuzzer once failed on), then a fixed number of deterministic
//! mutations of them. No fuzzer needed: a regression on a kept input fails
//! `cargo test --workspace`.

use std::path::Path;

/// Mutations per target (each a few microseconds to a millisecond in a
/// debug build).
const MUTATIONS: usize = 400;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// One libFuzzer-like mutation: flip, set, insert, delete, duplicate or
/// splice.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0, 0xff, b'\r', b'\n', b' ', b':', b'0', 0x7f][rng.below(8)];
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let part = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, part);
            }
            _ if !other.is_empty() => {
                let at = rng.below(len + 1);
                let from = rng.below(other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    v
}

#[test]
fn every_target_has_seeds_and_survives_them_and_their_mutations() {
    for &(name, harness) in gwd_fuzz::TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for s in &seeds {
            harness(s);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for i in 0..MUTATIONS {
            let a = &seeds[i % seeds.len()];
            let b = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, a, b);
            harness(&input);
        }
    }
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
    for &(name, _) in gwd_fuzz::TARGETS {
        assert!(
            dir.join(format!("{name}.rs")).is_file(),
            "fuzz_targets/{name}.rs missing"
        );
    }
}

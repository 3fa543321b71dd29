//! The fuzz smoke of the normal suite (issue #13, "Fuzzing"): every file of `fuzz/corpus/<target>/`
//! (seeded from tests/data's captured frames by `fuzz/seed`, plus what fuzz runs kept) and
//! 4,000 deterministic pseudo-random mutations of each through the same target functions the
//! cargo-fuzz binaries run (`fuzz/targets.rs`). It runs on stable, needs neither nightly nor
//! cargo-fuzz and never skips; the long coverage-guided run is `scripts/fuzz`.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;

/// xorshift64: reproducible mutations with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

/// Flip, overwrite, truncate, extend: the cheap mutations that reach length and field checks.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=(rng.next() % 4) {
        let r = rng.next();
        match r % 5 {
            0 if !v.is_empty() => {
                let i = (r >> 8) as usize % v.len();
                v[i] ^= 1 << ((r >> 4) % 8);
            }
            1 if !v.is_empty() => {
                let i = (r >> 8) as usize % v.len();
                v[i] = (r >> 32) as u8;
            }
            2 => v.truncate((r >> 8) as usize % (v.len() + 1)),
            3 => v.push((r >> 16) as u8),
            _ => {
                let n = (r >> 8) as usize % 8;
                v.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    v
}

#[test]
fn fuzz_corpus_and_mutations_never_panic() {
    for (name, f) in targets::TARGETS {
        let seeds = corpus(name);
        assert!(
            !seeds.is_empty(),
            "fuzz/corpus/{name} is empty: run fuzz/seed"
        );
        for s in &seeds {
            f(s);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in 0..4_000 {
            f(&mutate(&seeds[i % seeds.len()], &mut rng));
        }
    }
}

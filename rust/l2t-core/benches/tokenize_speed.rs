//! Throughput of the fast encoder vs the HF pipeline, one thread, release mode:
//! `cargo bench -p l2t-core --bench tokenize_speed` (a plain `main`, `harness = false`).
//!
//! Input: ~5 MB of the novels in `<repo>/../shared/data/english-novels-100/corpus` (BOM and \r
//! stripped) cut into ~4 KB documents at line ends; `L2T_BENCH_MB` changes the size. For each
//! tokenizer in `<repo>/../shared/data/tokenizers` it reports MB/s of
//! - `hf encode`: `Tokenizer::encode_reference` (HF `encode(text, true)`, with offsets);
//! - `hf encode_fast`: the HF pipeline without offsets (what the fallback path uses);
//! - `fast cold`: a fresh [`Encoder`] (empty cache) over all documents, misses included;
//! - `fast warm`: the same encoder again (steady state on a large corpus);
//! - `count warm`: `Encoder::count`.
//!
//! Each figure is the best of 3 passes (the machine may be shared). It also checks that every
//! document's ids equal the reference. Measured figures: the table in `src/tokenize/mod.rs`.

#![allow(clippy::print_stdout)] // A benchmark harness reports on stdout.

use std::path::PathBuf;
use std::time::Instant;

use l2t_core::tokenize::{Encoder, Tokenizer};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn documents(target_bytes: usize) -> Vec<String> {
    let dir = data_dir().join("english-novels-100/corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    let mut docs = Vec::new();
    let mut total = 0;
    for file in files {
        let Ok(raw) = std::fs::read_to_string(&file) else {
            continue;
        };
        let clean = raw.trim_start_matches('\u{feff}').replace('\r', "");
        let mut doc = String::new();
        for line in clean.lines() {
            doc.push_str(line);
            doc.push('\n');
            if doc.len() >= 4096 {
                total += doc.len();
                docs.push(std::mem::take(&mut doc));
                if total >= target_bytes {
                    return docs;
                }
            }
        }
    }
    docs
}

/// Best (least) seconds of `REPS` passes of `f` over the documents; `setup` runs before each
/// pass, untimed. The machine is shared, so the best pass is the least noisy estimate.
fn time<S>(docs: &[String], mut setup: impl FnMut() -> S, mut f: impl FnMut(&mut S, &str)) -> f64 {
    (0..REPS)
        .map(|_| {
            let mut state = setup();
            let start = Instant::now();
            for d in docs {
                f(&mut state, d);
            }
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

const REPS: usize = 3;

fn main() {
    let mb: f64 = std::env::var("L2T_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let docs = documents((mb * 1e6) as usize);
    if docs.is_empty() {
        println!(
            "no novels under {}: nothing to measure",
            data_dir().display()
        );
        return;
    }
    let bytes: usize = docs.iter().map(String::len).sum();
    let mbytes = bytes as f64 / 1e6;
    println!("{} documents, {mbytes:.2} MB, one thread", docs.len());
    for name in ["gpt2", "mistral-7b-v0.1", "bert-base-uncased"] {
        let path = data_dir()
            .join("tokenizers")
            .join(name)
            .join("tokenizer.json");
        let Ok(json) = std::fs::read_to_string(&path) else {
            println!("{name}: {} absent, skipped", path.display());
            continue;
        };
        let tok = Tokenizer::from_json(&json).expect("tokenizer loads");
        let hf: tokenizers::Tokenizer = json.parse().expect("tokenizer loads");
        let reference: Vec<Vec<u32>> = docs
            .iter()
            .map(|d| tok.encode_reference(d).expect("encodes"))
            .collect();

        let t_ref = time(
            &docs,
            || (),
            |(), d| {
                tok.encode_reference(d).unwrap();
            },
        );
        let t_hf_fast = time(
            &docs,
            || (),
            |(), d| {
                hf.encode_fast(d, true).unwrap();
            },
        );
        // A fresh encoder (empty cache) per pass.
        let t_cold = time(
            &docs,
            || tok.encoder(),
            |enc, d| {
                enc.encode(d).unwrap();
            },
        );
        let mut warm: Encoder<'_> = tok.encoder();
        for d in &docs {
            warm.encode(d).unwrap();
        }
        let t_warm = time(
            &docs,
            || (),
            |(), d| {
                warm.encode(d).unwrap();
            },
        );
        let t_count = time(
            &docs,
            || (),
            |(), d| {
                warm.count(d).unwrap();
            },
        );
        let n: usize = docs.iter().map(|d| warm.count(d).unwrap()).sum();

        let mut check = tok.encoder();
        let exact = docs
            .iter()
            .zip(&reference)
            .all(|(d, r)| check.encode(d).unwrap() == *r);
        let expected: usize = reference.iter().map(Vec::len).sum();
        assert!(
            exact && n == expected,
            "{name}: fast ids differ from the reference"
        );

        println!(
            "{name:>18} [{}]: hf encode {:6.2} MB/s | hf encode_fast {:6.2} MB/s | fast cold {:7.1} MB/s ({:5.1}x) | fast warm {:7.1} MB/s ({:5.1}x) | count warm {:7.1} MB/s | {} ids, exact",
            tok.fast_path(),
            mbytes / t_ref,
            mbytes / t_hf_fast,
            mbytes / t_cold,
            t_ref / t_cold,
            mbytes / t_warm,
            t_ref / t_warm,
            mbytes / t_count,
            expected,
        );
    }
}

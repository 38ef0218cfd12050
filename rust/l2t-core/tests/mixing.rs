//! Disjoint mixing by documents and by tokens, on the repository's fixtures (tests/fixtures): a
//! byte-level BPE tokenizer and 24 novel openings, recombined into documents of very different
//! lengths (two sentences to four openings), since the token split matters when documents differ.

use std::path::PathBuf;

use l2t_core::text::sentences::split_sentences;
use l2t_core::{Document, Engine, EngineConfig, Profile, Stats, StreamPosition, Tokenizer};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn engine(profile: Profile, overrides: &str) -> Engine {
    let json = std::fs::read_to_string(fixtures().join("bpe-pydoc-2k.json")).unwrap();
    let config = EngineConfig::with_overrides(profile, overrides).unwrap();
    Engine::new(Tokenizer::from_json(&json).unwrap(), config).unwrap()
}

/// 240 documents from 30 characters to about 9,500: two sentences (which the 20-word filter
/// often empties), one opening, four openings, eight sentences, in turn.
fn corpus() -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("docs.jsonl")).unwrap();
    let openings: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_owned()
        })
        .collect();
    let sentences: Vec<String> = openings.iter().flat_map(|d| split_sentences(d)).collect();
    let run = |from: usize, n: usize| {
        let from = from % (sentences.len() - n);
        sentences[from..from + n].join(" ")
    };
    (0..240)
        .map(|i| match i % 4 {
            0 => run(i * 3, 2),
            1 => openings[i % openings.len()].clone(),
            2 => (0..4)
                .map(|j| openings[(i + j) % openings.len()].as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
            _ => run(i * 7, 8),
        })
        .collect()
}

fn documents(texts: &[String]) -> Vec<Document<'_>> {
    texts.iter().map(|t| Document::new(t)).collect()
}

/// Raw tokens that reach the rows over raw plus L2T example tokens.
fn raw_share(stats: &Stats) -> f64 {
    let raw = (stats.raw_tokens - stats.raw_tokens_dropped) as f64;
    let l2t: u64 = stats.tasks.iter().map(|(_, t)| t.tokens).sum();
    raw / (raw + l2t as f64)
}

const MIX: &str = r#""seq_len": 512, "mix_block": 60"#;

#[test]
fn token_mixing_meets_the_raw_token_share() {
    let texts = corpus();
    let docs = documents(&texts);
    let at = StreamPosition::default();
    for profile in [Profile::Paper, Profile::Default] {
        for ratio in [0.25, 0.5, 0.75] {
            let tokens = engine(
                profile,
                &format!(r#"{{{MIX}, "raw_ratio": {ratio}, "mix_by": "tokens"}}"#),
            );
            let (_, stats) = tokens.generate(&docs, &at).unwrap();
            let share = raw_share(&stats);
            assert!(
                (share - ratio).abs() <= 0.05,
                "{profile:?} ratio {ratio}: raw token share {share}"
            );
            assert_eq!(stats.documents + stats.raw_documents, docs.len() as u64);
        }
        // By documents, each block of 60 sends exactly ceil(0.5 * 60) documents to raw text, and
        // the token share lands far from the ratio on this corpus (short documents make nothing).
        let by_docs = engine(profile, &format!(r#"{{{MIX}, "raw_ratio": 0.5}}"#));
        let (_, stats) = by_docs.generate(&docs, &at).unwrap();
        assert_eq!(stats.raw_documents, 4 * 30);
        assert!(
            (raw_share(&stats) - 0.5).abs() > 0.1,
            "{}",
            raw_share(&stats)
        );
    }
}

#[test]
fn token_mixing_is_the_same_for_any_thread_count() {
    let texts = corpus();
    let docs = documents(&texts);
    let at = StreamPosition {
        first_doc: 1000,
        previous: Some(split_sentences(&texts[7])),
        batch: 3,
    };
    let run = |threads: usize| {
        let e = engine(
            Profile::Default,
            &format!(r#"{{{MIX}, "raw_ratio": 0.4, "mix_by": "tokens", "threads": {threads}}}"#),
        );
        (
            e.generate(&docs, &at).unwrap(),
            e.mixed_examples(&docs, &at).unwrap(),
        )
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

#[test]
fn token_mixing_keeps_each_documents_own_examples() {
    // Every document's examples are those it gets when all documents are L2T: its previous
    // document is its predecessor in the stream, whichever way that one went.
    let texts = corpus();
    let docs = documents(&texts);
    let at = StreamPosition {
        first_doc: 50,
        previous: Some(split_sentences(&texts[0])),
        batch: 0,
    };
    let e = engine(
        Profile::Paper,
        &format!(r#"{{{MIX}, "raw_ratio": 0.5, "mix_by": "tokens"}}"#),
    );
    let (all, _) = e.examples(&docs, None, &at).unwrap();
    let (mixed, raw, stats) = e.mixed_examples(&docs, &at).unwrap();
    assert!(!mixed.is_empty() && !raw.is_empty());
    let l2t_docs: std::collections::BTreeSet<u64> = mixed.iter().map(|x| x.doc).collect();
    assert!(raw.iter().all(|g| !l2t_docs.contains(g)));
    let expected: Vec<_> = all.into_iter().filter(|x| !raw.contains(&x.doc)).collect();
    assert_eq!(mixed, expected);
    assert_eq!(stats.raw_documents, raw.len() as u64);
    assert_eq!((stats.rows, stats.pad_tokens), (0, 0));
}

#[test]
fn token_mixing_at_zero_and_one_matches_document_mixing() {
    let texts = corpus();
    let docs = documents(&texts[..90]);
    let at = StreamPosition::default();
    for ratio in ["0", "1", "0.0", "1.0"] {
        let by = |mix_by: &str| {
            engine(
                Profile::Default,
                &format!(r#"{{{MIX}, "raw_ratio": {ratio}, "mix_by": "{mix_by}"}}"#),
            )
            .generate(&docs, &at)
            .unwrap()
        };
        assert_eq!(by("tokens"), by("documents"), "raw_ratio {ratio}");
    }
    let all_raw = engine(
        Profile::Default,
        &format!(r#"{{{MIX}, "raw_ratio": 1, "mix_by": "tokens"}}"#),
    );
    let (packed, stats) = all_raw.generate(&docs, &at).unwrap();
    assert_eq!((stats.examples(), stats.documents), (0, 0));
    assert_eq!(stats.raw_documents, 90);
    assert!(packed
        .segment_tasks
        .iter()
        .all(|&t| t == l2t_core::tasks::RAW_TASK_ID));
    let (examples, raw, _) = all_raw.mixed_examples(&docs, &at).unwrap();
    assert!(examples.is_empty());
    assert_eq!(raw, (0..90).collect::<Vec<u64>>());
}

#[test]
fn mixing_options_are_checked() {
    let parse = |o: &str| EngineConfig::with_overrides(Profile::Default, o);
    for ok in [
        r#"{"raw_ratio": 0}"#,
        r#"{"raw_ratio": 1}"#,
        r#"{"mix_by": "tokens"}"#,
        r#"{"mix_by": "documents"}"#,
    ] {
        assert!(parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        r#"{"raw_ratio": -0.1}"#,
        r#"{"raw_ratio": 1.5}"#,
        r#"{"mix_by": "bytes"}"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    for profile in [Profile::Paper, Profile::Default] {
        assert_eq!(
            EngineConfig::preset(profile).mix_by,
            l2t_core::MixBy::Documents
        );
    }
}

//! Proof by tests that the fast encoder returns exactly the HF ids
//! (`Tokenizer::encode_reference`, i.e. `encode(text, add_special_tokens=true)`).
//!
//! Data: `<repo>/../shared/data/tokenizers/{gpt2,mistral-7b-v0.1,bert-base-uncased}` and the
//! novels of `<repo>/../shared/data/english-novels-100/corpus`. A test whose data is absent
//! prints why and passes. `L2T_MAX_EXAMPLES` scales the random cases (default 200 per
//! tokenizer); debug builds check the first 150 KB of each novel, release builds all of it.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use l2t_core::tokenize::{Encoder, Tokenizer};
use l2t_core::L2tError;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const GPT2: &str = "gpt2";
const MISTRAL: &str = "mistral-7b-v0.1";
const BERT: &str = "bert-base-uncased";

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn tokenizer_json(name: &str) -> Option<String> {
    let path = data_dir()
        .join("tokenizers")
        .join(name)
        .join("tokenizer.json");
    match std::fs::read_to_string(&path) {
        Ok(json) => Some(json),
        Err(e) => {
            eprintln!("skipping: cannot read {}: {e}", path.display());
            None
        }
    }
}

/// The three tokenizers, loaded once (absent ones are `None`).
static TOKENIZERS: LazyLock<Vec<(&'static str, Option<Tokenizer>)>> = LazyLock::new(|| {
    [GPT2, MISTRAL, BERT]
        .into_iter()
        .map(|name| {
            let tok = tokenizer_json(name).map(|json| Tokenizer::from_json(&json).unwrap());
            (name, tok)
        })
        .collect()
});

fn tokenizer(name: &str) -> Option<&'static Tokenizer> {
    TOKENIZERS
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, t)| t.as_ref())
}

/// A tokenizer.json with some top-level fields replaced (a synthetic variant).
fn variant(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Option<Tokenizer> {
    let mut value: serde_json::Value = serde_json::from_str(&tokenizer_json(name)?).unwrap();
    edit(&mut value);
    Some(Tokenizer::from_json(&value.to_string()).unwrap())
}

/// Asserts the fast encoder (twice: cold then cached) and `count` against the reference.
fn assert_exact(tok: &Tokenizer, enc: &mut Encoder<'_>, text: &str) {
    let expected = tok.encode_reference(text).unwrap();
    let got = enc.encode(text).unwrap();
    assert!(
        got == expected,
        "fast path {} differs on {text:?}:\n fast {got:?}\n   hf {expected:?}",
        tok.fast_path()
    );
    assert_eq!(enc.encode(text).unwrap(), expected, "cached, on {text:?}");
    assert_eq!(
        enc.count(text).unwrap(),
        expected.len(),
        "count, on {text:?}"
    );
}

/// Lines and ~4 KB multi-line chunks of two novels (BOM and \r stripped).
static NOVEL_TEXTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let dir = data_dir().join("english-novels-100/corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping novels: cannot read {}", dir.display());
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    let cap = if cfg!(debug_assertions) {
        150_000
    } else {
        usize::MAX
    };
    let mut texts = Vec::new();
    for file in files.iter().take(2) {
        let raw = std::fs::read_to_string(file).unwrap();
        let clean = raw.trim_start_matches('\u{feff}').replace('\r', "");
        let mut end = clean.len().min(cap);
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        let mut chunk = String::new();
        for line in clean[..end].lines() {
            texts.push(line.to_owned());
            chunk.push_str(line);
            chunk.push('\n');
            if chunk.len() >= 4096 {
                texts.push(std::mem::take(&mut chunk));
            }
        }
        texts.push(chunk);
    }
    texts
});

fn check_novels(name: &str) {
    let Some(tok) = tokenizer(name) else { return };
    let mut enc = tok.encoder();
    for text in NOVEL_TEXTS.iter() {
        assert_exact(tok, &mut enc, text);
    }
}

#[test]
fn gpt2_novels() {
    check_novels(GPT2);
}

#[test]
fn mistral_novels() {
    check_novels(MISTRAL);
}

#[test]
fn bert_novels() {
    check_novels(BERT);
}

/// Fragments that stress segmentation: whitespace of all kinds, punctuation, digits, accents,
/// combining marks, scripts, emoji, added tokens and their look-alikes, apostrophes, controls.
const FRAGMENTS: &[&str] = &[
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\u{85}",
    "\u{a0}",
    "\u{1680}",
    "\u{2000}",
    "\u{2001}",
    "\u{2002}",
    "\u{2003}",
    "\u{2004}",
    "\u{2005}",
    "\u{2006}",
    "\u{2007}",
    "\u{2008}",
    "\u{2009}",
    "\u{200a}",
    "\u{2028}",
    "\u{2029}",
    "\u{202f}",
    "\u{205f}",
    "\u{3000}",
    ".",
    ",",
    "!",
    "?",
    ";",
    ":",
    "-",
    "—",
    "…",
    "\"",
    "“",
    "”",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "/",
    "\\",
    "@",
    "#",
    "$",
    "%",
    "&",
    "*",
    "_",
    "~",
    "`",
    "|",
    "+",
    "=",
    "^",
    "0",
    "7",
    "42",
    "2024",
    "3.14",
    "½",
    "٣",
    "Ⅻ",
    "²",
    "the",
    "The",
    "HELLO",
    "world",
    "a",
    "I",
    "don",
    "é",
    "É",
    "ñ",
    "ü",
    "ø",
    "ß",
    "İ",
    "Σ",
    "ς",
    "Ωmega",
    "e\u{301}",
    "\u{301}",
    "\u{327}",
    "\u{308}",
    "中文",
    "日本語",
    "한국어",
    "の",
    "مرحبا",
    "العربية",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "[MASK]",
    "[mask]",
    "<<>>",
    "(())",
    "<|endoftext|>",
    "<|endoftext",
    "<s>",
    "</s>",
    "<unk>",
    "<S>",
    "▁",
    "▁▁",
    "▁a",
    "[SEP]",
    "[CLS]",
    "'s",
    "'t",
    "'re",
    "'ve",
    "'m",
    "'ll",
    "'d",
    "'S",
    "'ſ",
    "'LL",
    "'",
    "’s",
    "''",
    "\0",
    "\u{fffd}",
    "\u{200b}",
    "\u{feff}",
    "\u{ad}",
    "<0x0A>",
];

fn mixed_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
            1 => "[a-z]{1,12}",
        ],
        0..48,
    )
    .prop_map(|v| v.concat())
}

fn cases() -> u32 {
    std::env::var("L2T_MAX_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Random texts; one encoder (one cache) across all cases, behind a mutex.
fn check_random(tok: &Tokenizer) {
    let enc = Mutex::new(tok.encoder());
    let mut runner = TestRunner::new(Config::with_cases(cases()));
    runner
        .run(&mixed_text(), |text| {
            let expected = tok.encode_reference(&text).unwrap();
            let mut enc = enc.lock().unwrap();
            prop_assert_eq!(enc.encode(&text).unwrap(), expected.clone(), "{:?}", text);
            prop_assert_eq!(enc.count(&text).unwrap(), expected.len());
            Ok(())
        })
        .unwrap();
}

#[test]
fn gpt2_random() {
    if let Some(tok) = tokenizer(GPT2) {
        check_random(tok);
    }
}

#[test]
fn mistral_random() {
    if let Some(tok) = tokenizer(MISTRAL) {
        check_random(tok);
    }
}

#[test]
fn bert_random() {
    if let Some(tok) = tokenizer(BERT) {
        check_random(tok);
    }
}

fn edge_cases() -> Vec<String> {
    let mut texts: Vec<String> = [
        "", " ", "\n", "  ", "\t", "\u{a0}", "▁", "a", "<s>", "[MASK]",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for unit in [
        "a", "ab1", "中", "!", " ", "\n", "▁", "é", "😀", "x ", "\u{301}",
    ] {
        texts.push(unit.repeat(10_000 / unit.chars().count()));
    }
    texts.extend(FRAGMENTS.iter().map(|f| (*f).to_owned()));
    texts.extend(FRAGMENTS.iter().map(|f| format!("{f}{f} x{f}")));
    // ~1 MB: novel text, or the fragments, repeated.
    let base = NOVEL_TEXTS
        .iter()
        .find(|t| t.len() >= 4096)
        .cloned()
        .unwrap_or_else(|| FRAGMENTS.concat());
    texts.push(base.repeat((1 << 20) / base.len() + 1));
    texts
}

fn check_edges(name: &str) {
    let Some(tok) = tokenizer(name) else { return };
    let mut enc = tok.encoder();
    for text in edge_cases() {
        assert_exact(tok, &mut enc, &text);
    }
}

#[test]
fn gpt2_edge_cases() {
    check_edges(GPT2);
}

#[test]
fn mistral_edge_cases() {
    check_edges(MISTRAL);
}

#[test]
fn bert_edge_cases() {
    check_edges(BERT);
}

#[test]
fn fast_paths_are_proven() {
    for (name, path) in [
        (GPT2, "byte_level"),
        (MISTRAL, "metaspace"),
        (BERT, "whitespace"),
    ] {
        if let Some(tok) = tokenizer(name) {
            assert_eq!(tok.fast_path(), path, "{name}");
        }
    }
}

#[test]
fn special_ids() {
    if let Some(tok) = tokenizer(GPT2) {
        assert_eq!((tok.bos_id(), tok.eos_id()), (None, Some(50256)));
        assert_eq!(tok.vocab_size(), 50257);
        assert_eq!(tok.encoder().encode("Hello world").unwrap(), [15496, 995]);
    }
    if let Some(tok) = tokenizer(MISTRAL) {
        assert_eq!((tok.bos_id(), tok.eos_id()), (Some(1), Some(2)));
        assert_eq!(tok.vocab_size(), 32000);
        assert_eq!(
            tok.encoder().encode("Hello world").unwrap(),
            [1, 22557, 1526]
        );
        assert_eq!(tok.token_to_id("▁Hello"), Some(22557));
    }
    if let Some(tok) = tokenizer(BERT) {
        assert_eq!((tok.bos_id(), tok.eos_id()), (Some(101), Some(102)));
        assert_eq!(tok.vocab_size(), 30522);
        let ids = tok.encoder().encode("Hello world!").unwrap();
        assert_eq!(ids, [101, 7592, 2088, 999, 102]);
        // Padding and truncation (on in the file) are off.
        let long = "word ".repeat(300);
        assert_eq!(tok.encoder().count(&long).unwrap(), 302);
        assert_eq!(tok.decode(&ids).unwrap(), "hello world!");
    }
}

#[test]
fn decode_rejects_out_of_vocabulary_ids() {
    for (name, tok) in TOKENIZERS.iter() {
        let Some(tok) = tok else { continue };
        let size = tok.vocab_size();
        let bad = u32::try_from(size).unwrap();
        match tok.decode(&[0, bad]) {
            Err(L2tError::Vocab { id, vocab_size, .. }) => {
                assert_eq!((id, vocab_size), (bad, size), "{name}");
            }
            other => panic!("{name}: expected a Vocab error, got {other:?}"),
        }
        assert!(matches!(
            tok.decode(&[u32::MAX]),
            Err(L2tError::Vocab { .. })
        ));
    }
}

#[test]
fn load_errors_are_readable() {
    let err = Tokenizer::from_json("{\"model\": 3}").err().unwrap();
    assert!(matches!(err, L2tError::Tokenizer(_)), "{err}");
    let missing = data_dir().join("no-such-dir/tokenizer.json");
    let err = Tokenizer::from_file(&missing).err().unwrap();
    assert!(matches!(err, L2tError::Tokenizer(_)), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn from_file_loads() {
    let path = data_dir()
        .join("tokenizers")
        .join(GPT2)
        .join("tokenizer.json");
    if path.exists() {
        assert_eq!(
            Tokenizer::from_file(&path).unwrap().fast_path(),
            "byte_level"
        );
    }
}

#[test]
fn two_threads_agree() {
    let texts = &*NOVEL_TEXTS;
    for (_, tok) in TOKENIZERS.iter() {
        let Some(tok) = tok else { continue };
        let run = || -> Vec<Vec<u32>> {
            let mut enc = tok.encoder();
            texts.iter().map(|t| enc.encode(t).unwrap()).collect()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(run);
            let b = s.spawn(run);
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(a == b, "{}", tok.fast_path());
    }
}

#[test]
fn shared_encoder_owns_its_tokenizer() {
    let Some(json) = tokenizer_json(GPT2) else {
        return;
    };
    let tok = std::sync::Arc::new(Tokenizer::from_json(&json).unwrap());
    let pool: Mutex<Vec<Encoder<'static>>> = Mutex::new(vec![tok.shared_encoder()]);
    let mut enc = pool.lock().unwrap().pop().unwrap();
    drop(pool);
    let text = "Hello world, it's a test.";
    assert_eq!(
        enc.encode(text).unwrap(),
        tok.encode_reference(text).unwrap()
    );
}

/// Llama-3 / Qwen-2 style `Split` + `ByteLevel` (on GPT-2's vocabulary), the newer Metaspace
/// pre-tokenizer forms (on Mistral's), and configurations that must fall back to HF.
#[test]
fn synthetic_variants() {
    let split = |pattern: &str| {
        serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})
    };
    let llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let qwen2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let metaspace = |scheme: &'static str, split: bool| {
        move |v: &mut serde_json::Value| {
            v["normalizer"] = serde_json::Value::Null;
            v["pre_tokenizer"] = serde_json::json!({"type": "Metaspace", "replacement": "▁",
                "prepend_scheme": scheme, "split": split});
        }
    };
    let mut variants: Vec<(&str, Option<Tokenizer>)> = vec![
        (
            "byte_level",
            variant(GPT2, |v| v["pre_tokenizer"] = split(llama3)),
        ),
        (
            "byte_level",
            variant(GPT2, |v| v["pre_tokenizer"] = split(qwen2)),
        ),
        (
            "byte_level",
            variant(GPT2, |v| {
                v["pre_tokenizer"]["add_prefix_space"] = true.into();
            }),
        ),
        ("metaspace", variant(MISTRAL, metaspace("first", false))),
        ("metaspace", variant(MISTRAL, metaspace("always", true))),
        ("metaspace", variant(MISTRAL, metaspace("never", false))),
        (
            "metaspace",
            variant(MISTRAL, |v| {
                v["added_tokens"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({
                    "id": 32000, "content": "hello world", "single_word": false,
                    "lstrip": false, "rstrip": false, "normalized": true, "special": false}));
            }),
        ),
        (
            "metaspace",
            variant(MISTRAL, |v| v["model"]["byte_fallback"] = false.into()),
        ),
        (
            "whitespace",
            variant(BERT, |v| {
                v["normalizer"]["lowercase"] = false.into();
                v["normalizer"]["strip_accents"] = false.into();
            }),
        ),
        (
            "whitespace",
            variant(BERT, |v| {
                v["pre_tokenizer"] = serde_json::json!({"type": "Whitespace"});
            }),
        ),
        (
            "whitespace",
            variant(BERT, |v| {
                v["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": [
                    {"type": "NFC"}, {"type": "Lowercase"}]});
                v["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
                    {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"}]});
            }),
        ),
        (
            "hf",
            variant(BERT, |v| {
                v["normalizer"] = serde_json::json!({"type": "Replace",
                    "pattern": {"String": "a"}, "content": " "});
            }),
        ),
        (
            "hf",
            variant(GPT2, |v| v["pre_tokenizer"] = split(r"\w+|[^\w\s]+")),
        ),
    ];
    let mut texts: Vec<String> = NOVEL_TEXTS.iter().take(150).cloned().collect();
    texts.extend(edge_cases().into_iter().filter(|t| t.len() < 20_000));
    texts.push("say hello world, hello  world▁hello▁world".to_owned());
    let mut runner = TestRunner::new(Config::with_cases(cases() / 4));
    for (path, tok) in &mut variants {
        let Some(tok) = tok else { continue };
        assert_eq!(tok.fast_path(), *path);
        let mut enc = tok.encoder();
        for text in &texts {
            assert_exact(tok, &mut enc, text);
        }
        let enc = RefCell::new(enc);
        runner
            .run(&mixed_text(), |text| {
                let got = enc.borrow_mut().encode(&text).unwrap();
                prop_assert_eq!(got, tok.encode_reference(&text).unwrap(), "{:?}", text);
                Ok(())
            })
            .unwrap();
    }
}

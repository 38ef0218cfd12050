//! Whitespace (BERT-like) segmentation: cut the raw text at ASCII whitespace and run the HF
//! pipeline on each piece.
//!
//! # Which configurations qualify (checked at load, anything else is the HF fallback)
//! - normalizer: none, or one of / a `Sequence` of `BertNormalizer` (any options), `Lowercase`,
//!   `NFD`, `NFC`, `NFKD`, `NFKC`, `StripAccents`;
//! - pre-tokenizer: `BertPreTokenizer`, `Whitespace` or `WhitespaceSplit`, or a `Sequence` that
//!   starts with one of them, followed only by those, `Punctuation` or `Digits`;
//! - any model; every added token has `normalized: false` (then the raw-text check of the caller
//!   is exact; a normalized added token could match text that only matches after lowercasing).
//!
//! # Why cutting at ' ', '\t', '\n', '\r' is exact
//! Let the text be `a c b` with `c` one of those chars. Each normalizer above maps every char
//! independently (clean-text filter and whitespace mapping, CJK spacing, lowercase through
//! `char::to_lowercase`, removal of non-spacing marks), except the Unicode normal forms, whose
//! reordering and composition never cross a starter that neither decomposes nor composes with
//! anything (`c` is such a char). So `N(a c b) = N(a) N(c) N(b)` with `N(c)` a single whitespace
//! char (`c` itself or ' '). The first pre-tokenizer removes whitespace (`char::is_whitespace`,
//! or `\s` outside the matches of `\w+|[^\w\s]+`) and keeps no context across it, so it yields
//! the words of `N(a)` then those of `N(b)`; the later pre-tokenizers and the model work on each
//! word alone. So the ids of the text are the ids of `a` followed by those of `b`. Other
//! whitespace (NBSP, \x0b, U+2028, ...) is not a cut: BERT's `clean_text` *deletes* \x0b, \x0c
//! and \u{85} (control chars) instead of splitting there, and HF handles any such char inside
//! the piece anyway.
//!
//! # Cutting around ASCII punctuation (`BertPreTokenizer` first, no composing normalizer)
//! When the first pre-tokenizer is `BertPreTokenizer` and no normalizer composes chars (only
//! `BertNormalizer`, `Lowercase`, `NFD`, `NFKD`, `StripAccents`), we also cut before and after
//! each ASCII punctuation char `p`. These normalizers map `p` to itself and act per char, except
//! the canonical reordering of decompositions, which only permutes runs of non-starters and `p`
//! is a starter; so `N(a p b) = N(a) p N(b)`. `BertPreTokenizer` isolates every punctuation char
//! (`is_ascii_punctuation` or Unicode `P*`), so the pre-tokens are those of `N(a)`, then `p`,
//! then those of `N(b)`. (`Whitespace` keeps punctuation runs like "?!" together, and NFC could
//! compose `<`/`=`/`>` with U+0338: both excluded.) "(Hello," becomes "(", "Hello", ",": the
//! distinct pieces of prose halve, and so do the cold-cache misses.
//!
//! # Printable-ASCII pieces skip the normalizer (same configurations, `BertPreTokenizer` alone)
//! After those cuts a piece of printable ASCII (0x21..=0x7E) is a run of letters and digits or
//! one punctuation char. On such text the normalizers above are the identity except for
//! lowercasing (ASCII `to_lowercase`), and `BertPreTokenizer` yields the piece as one pre-token,
//! so HF's ids are `model.tokenize(piece, lowercased if the normalizer lowercases)`. This skips
//! HF's `NormalizedString` machinery (alignment vectors, NFD) on the misses of English text.
//!
//! # Performance notes
//! A cache miss runs HF's own normalizer, pre-tokenizer and model on the piece (the steps of
//! `encode`, minus the added-token scan that the guard made moot); calling `encode_fast(piece,
//! false)` instead was ~1.3x slower per miss (it builds an `Encoding` and runs the
//! post-processor). A hit is a hash lookup. Text without whitespace (e.g. CJK) gives long pieces
//! that are not cached (> 128 bytes): HF speed there.

use serde_json::Value;
use tokenizers::{
    Model, NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString,
    PreTokenizer,
};

use super::bytelevel::type_of;
use crate::error::{L2tError, Result};

/// Normalizers that act char by char (or as a Unicode normal form).
const LOCAL_NORMALIZERS: [&str; 7] = [
    "BertNormalizer",
    "Lowercase",
    "NFD",
    "NFC",
    "NFKD",
    "NFKC",
    "StripAccents",
];
/// Pre-tokenizers that remove whitespace and keep no context across it.
const WHITESPACE_SPLITTERS: [&str; 3] = ["BertPreTokenizer", "Whitespace", "WhitespaceSplit"];
/// Pre-tokenizers that only work inside each existing piece.
const PIECE_LOCAL: [&str; 5] = [
    "BertPreTokenizer",
    "Whitespace",
    "WhitespaceSplit",
    "Punctuation",
    "Digits",
];

/// Normalizers that never compose chars (so an ASCII punctuation char cannot join a neighbour).
const NON_COMPOSING: [&str; 5] = ["BertNormalizer", "Lowercase", "NFD", "NFKD", "StripAccents"];

/// A proven whitespace segmenter.
#[derive(Debug)]
pub(crate) struct Whitespace {
    /// Also cut before and after every ASCII punctuation char (see the module doc).
    isolate_ascii_punctuation: bool,
    /// `Some(lowercase)`: a printable-ASCII piece goes straight to the model (see the module
    /// doc), lowercased or not.
    ascii_shortcut: Option<bool>,
}

impl Whitespace {
    /// Recognizes a supported configuration (the added tokens are checked by the caller).
    pub(crate) fn detect(normalizer: &Value, pre_tokenizer: &Value) -> Option<Self> {
        let normalizers: &[Value] = match type_of(normalizer) {
            _ if normalizer.is_null() => &[],
            "Sequence" => normalizer["normalizers"].as_array()?,
            _ => std::slice::from_ref(normalizer),
        };
        if !normalizers
            .iter()
            .all(|n| LOCAL_NORMALIZERS.contains(&type_of(n)))
        {
            return None;
        }
        let pre_tokenizers: &[Value] = match type_of(pre_tokenizer) {
            "Sequence" => pre_tokenizer["pretokenizers"].as_array()?,
            _ => std::slice::from_ref(pre_tokenizer),
        };
        let (first, rest) = pre_tokenizers.split_first()?;
        let ok = WHITESPACE_SPLITTERS.contains(&type_of(first))
            && rest.iter().all(|p| PIECE_LOCAL.contains(&type_of(p)));
        let isolate_ascii_punctuation = type_of(first) == "BertPreTokenizer"
            && normalizers
                .iter()
                .all(|n| NON_COMPOSING.contains(&type_of(n)));
        let lowercase = normalizers.iter().any(|n| {
            type_of(n) == "Lowercase"
                || (type_of(n) == "BertNormalizer" && n["lowercase"] == Value::Bool(true))
        });
        let ascii_shortcut =
            (isolate_ascii_punctuation && pre_tokenizers.len() == 1).then_some(lowercase);
        ok.then_some(Self {
            isolate_ascii_punctuation,
            ascii_shortcut,
        })
    }

    /// Calls `f` on every non-empty piece of `text` between ASCII ' ', '\t', '\n', '\r' (and on
    /// each ASCII punctuation char alone, when isolated).
    pub(crate) fn for_each_piece(
        &self,
        text: &str,
        mut f: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        // A byte scan: the cut bytes are ASCII, so never inside a multi-byte char.
        let mut start = 0;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
            let isolated = !space && self.isolate_ascii_punctuation && b.is_ascii_punctuation();
            if space || isolated {
                if i > start {
                    f(&text[start..i])?;
                }
                if isolated {
                    f(&text[i..=i])?;
                }
                start = i + 1;
            }
        }
        if start < text.len() {
            f(&text[start..])?;
        }
        Ok(())
    }

    /// HF's ids for one piece: its normalizer, pre-tokenizer and model, exactly the steps of
    /// `encode` once the added-token extraction found nothing (the caller's guard ensures it),
    /// without building an `Encoding` or running the post-processor.
    pub(crate) fn tokenize_piece(
        &self,
        hf: &tokenizers::Tokenizer,
        piece: &str,
    ) -> Result<Vec<u32>> {
        if let Some(lowercase) = self.ascii_shortcut {
            if piece.bytes().all(|b| matches!(b, 0x21..=0x7E)) {
                let word = if lowercase {
                    piece.to_ascii_lowercase()
                } else {
                    piece.to_owned()
                };
                let tokens = hf
                    .get_model()
                    .tokenize(&word)
                    .map_err(|e| L2tError::Tokenizer(format!("model failed on {word:?}: {e}")))?;
                return Ok(tokens.into_iter().map(|t| t.id).collect());
            }
        }
        let fail =
            |e: tokenizers::Error| L2tError::Tokenizer(format!("cannot encode {piece:?}: {e}"));
        let mut normalized = NormalizedString::from(piece);
        if let Some(normalizer) = hf.get_normalizer() {
            normalizer.normalize(&mut normalized).map_err(fail)?;
        }
        let mut pre_tokenized = PreTokenizedString::from(normalized);
        if let Some(pre_tokenizer) = hf.get_pre_tokenizer() {
            pre_tokenizer
                .pre_tokenize(&mut pre_tokenized)
                .map_err(fail)?;
        }
        let model = hf.get_model();
        model
            .tokenize_in_pretokenized(&mut pre_tokenized, None)
            .map_err(fail)?;
        Ok(pre_tokenized
            .get_splits(OffsetReferential::Original, OffsetType::None)
            .into_iter()
            .flat_map(|(_, _, tokens)| tokens.iter().flatten().map(|t| t.id))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_config_is_recognized() {
        let n = serde_json::json!({"type": "BertNormalizer", "clean_text": true,
            "handle_chinese_chars": true, "strip_accents": null, "lowercase": true});
        let p = serde_json::json!({"type": "BertPreTokenizer"});
        assert!(
            Whitespace::detect(&n, &p)
                .unwrap()
                .isolate_ascii_punctuation
        );
        let seq = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"}]});
        assert!(
            !Whitespace::detect(&Value::Null, &seq)
                .unwrap()
                .isolate_ascii_punctuation
        );
        let replace =
            serde_json::json!({"type": "Replace", "pattern": {"String": " "}, "content": "_"});
        assert!(Whitespace::detect(&replace, &p).is_none());
        assert!(Whitespace::detect(&n, &Value::Null).is_none());
    }

    #[test]
    fn pieces() {
        let split = |seg: &Whitespace, text: &str| {
            let mut out = Vec::new();
            seg.for_each_piece(text, |p| {
                out.push(p.to_owned());
                Ok(())
            })
            .unwrap();
            out
        };
        let plain = Whitespace {
            isolate_ascii_punctuation: false,
            ascii_shortcut: None,
        };
        let text = " a\tb\r\n\u{a0}c\x0bd  (Hello, é!)";
        assert_eq!(
            split(&plain, text),
            ["a", "b", "\u{a0}c\x0bd", "(Hello,", "é!)"]
        );
        let bert = Whitespace {
            isolate_ascii_punctuation: true,
            ascii_shortcut: Some(true),
        };
        assert_eq!(
            split(&bert, text),
            ["a", "b", "\u{a0}c\x0bd", "(", "Hello", ",", "é", "!", ")"]
        );
    }
}

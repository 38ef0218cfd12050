//! Byte-level (GPT-2, Llama-3, Qwen-2 style) segmentation: the exact pieces of the
//! `ByteLevel` pre-tokenizer, or of `Sequence[Split(regex, Isolated), ByteLevel(use_regex=false)]`.
//!
//! # Which configurations qualify (checked at load, anything else is the HF fallback)
//! - normalizer: none (so the model sees the raw bytes, and added tokens match the raw text);
//! - pre-tokenizer: `ByteLevel{use_regex: true}` (the GPT-2 regex, either `add_prefix_space`), or
//!   a `Sequence` of a `Split{pattern: Regex(P), behavior: Isolated, invert: false}` and a
//!   `ByteLevel{use_regex: false, add_prefix_space: false}`, where P is one of the patterns of
//!   [`KNOWN_PATTERNS`] (GPT-2, cl100k/Llama-3, Qwen-2); the model: any (HF itself runs it on each
//!   piece; BPE dropout is rejected by the caller).
//!
//! # The GPT-2 splitter
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` is matched by a
//! hand-written scanner that follows the backtracking engine's leftmost-first semantics branch by
//! branch. Every char is in exactly one of `'`-contraction, L, N, S(pace), O(ther), so the matches
//! tile the text (no gaps). The only look-around, `\s+(?!\S)`, means: a whitespace run that is
//! followed by a non-space char gives its last char to the next piece (when the run has at least
//! 2 chars; a single space char followed by a non-space char that no earlier branch took is
//! matched alone by the final `\s+`). The Unicode classes come from [`super::charclass`], built
//! from the regex engine itself.
//!
//! # The generic regex splitter (Llama-3, Qwen-2)
//! The known patterns all end in `|\s+(?!\S)|\s+`; the head `A` before it is a plain regular
//! expression that the `regex` crate compiles. We search `A|\s+` with the `regex` crate (its
//! leftmost-first semantics are the backtracker's for a regular pattern). When the match came
//! from the final `\s+` branch (`A` does not match anchored there), has 2+ chars and does not
//! end the text, the original `\s+(?!\S)` would have stopped one char earlier, so we shorten it.
//! The non-matching gaps are kept as pieces, like `Isolated` does.
//!
//! # Performance notes
//! The scanner classifies ASCII through the class table (no branches on Unicode ranges) and
//! never allocates: pieces are slices of the input, used directly as cache keys; the byte to
//! char mapping is only done on a cache miss. A `regex`-crate version of the GPT-2 splitter
//! measured several times slower (one search call per ~5-byte piece), hence the scanner.

use std::borrow::Cow;

use regex::Regex;
use serde_json::Value;
use tokenizers::{Model, ModelWrapper};

use super::charclass::{self, LETTER, NUMBER, OTHER, SPACE};
use crate::error::{L2tError, Result};

/// The GPT-2 regex, as `tokenizers` spells it.
pub(crate) const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// The cl100k / Llama-3 pattern.
pub(crate) const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The Qwen-2 pattern (single digits).
pub(crate) const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The `Split` patterns we accept; each one is tested against the HF pre-tokenizer.
pub(crate) const KNOWN_PATTERNS: [&str; 3] = [GPT2_PATTERN, LLAMA3_PATTERN, QWEN2_PATTERN];
/// The tail every known pattern ends with (the only non-regular part).
const LOOKAHEAD_TAIL: &str = r"|\s+(?!\S)|\s+";

/// A proven byte-level segmenter.
#[derive(Debug)]
pub(crate) struct ByteLevel {
    splitter: Splitter,
    /// `ByteLevel{add_prefix_space: true}`: a space is prepended unless the text starts with one.
    add_prefix_space: bool,
}

#[derive(Debug)]
enum Splitter {
    Gpt2,
    Regex {
        /// `A|\s+`.
        full: Regex,
        /// `^(?:A)`, to tell which branch produced a whitespace match.
        head: Regex,
    },
}

impl ByteLevel {
    /// Recognizes a supported configuration from the serialized normalizer and pre-tokenizer.
    pub(crate) fn detect(normalizer: &Value, pre_tokenizer: &Value) -> Option<Self> {
        if !normalizer.is_null() {
            return None;
        }
        let (splitter, add_prefix_space) = match type_of(pre_tokenizer) {
            "ByteLevel" => {
                if pre_tokenizer["use_regex"] != Value::Bool(true) {
                    return None;
                }
                (
                    Splitter::gpt2(),
                    pre_tokenizer["add_prefix_space"].as_bool()?,
                )
            }
            "Sequence" => {
                let [split, byte_level] = pre_tokenizer["pretokenizers"].as_array()?.as_slice()
                else {
                    return None;
                };
                let is_plain_byte_level = type_of(byte_level) == "ByteLevel"
                    && byte_level["use_regex"] == Value::Bool(false)
                    && byte_level["add_prefix_space"] == Value::Bool(false);
                let is_isolated_split = type_of(split) == "Split"
                    && split["behavior"] == "Isolated"
                    && split["invert"] == Value::Bool(false);
                if !is_plain_byte_level || !is_isolated_split {
                    return None;
                }
                let pattern = split["pattern"]["Regex"].as_str()?;
                if !KNOWN_PATTERNS.contains(&pattern) {
                    return None;
                }
                (Splitter::for_pattern(pattern)?, false)
            }
            _ => return None,
        };
        Some(Self {
            splitter,
            add_prefix_space,
        })
    }

    /// Calls `f` on every piece of `text`, in order; the pieces tile the (prefixed) text.
    pub(crate) fn for_each_piece(
        &self,
        text: &str,
        mut f: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let text: Cow<'_, str> = if self.add_prefix_space && !text.starts_with(' ') {
            Cow::Owned(format!(" {text}"))
        } else {
            Cow::Borrowed(text)
        };
        match &self.splitter {
            Splitter::Gpt2 => {
                let table = charclass::table();
                let mut start = 0;
                while start < text.len() {
                    let end = gpt2_piece_end(&text, start, table);
                    f(&text[start..end])?;
                    start = end;
                }
            }
            Splitter::Regex { full, head } => {
                let mut start = 0;
                while start < text.len() {
                    let Some(m) = full.find_at(&text, start) else {
                        return f(&text[start..]);
                    };
                    if m.start() > start {
                        f(&text[start..m.start()])?;
                    }
                    let end = regex_piece_end(&text, m.start(), m.end(), head);
                    f(&text[m.start()..end])?;
                    start = end;
                }
            }
        }
        Ok(())
    }

    /// The model's ids for one piece: byte-to-char mapping, then the model (as HF does).
    pub(crate) fn tokenize_piece(model: &ModelWrapper, piece: &str) -> Result<Vec<u32>> {
        let mapped: String = piece.bytes().map(|b| BYTE_CHARS[usize::from(b)]).collect();
        let tokens = model
            .tokenize(&mapped)
            .map_err(|e| L2tError::Tokenizer(format!("model failed on {piece:?}: {e}")))?;
        Ok(tokens.into_iter().map(|t| t.id).collect())
    }
}

impl Splitter {
    /// The GPT-2 scanner; builds the class table now (tens of ms, once per process) rather
    /// than in the first `encode`.
    fn gpt2() -> Self {
        charclass::table();
        Self::Gpt2
    }

    fn for_pattern(pattern: &str) -> Option<Self> {
        if pattern == GPT2_PATTERN {
            return Some(Self::gpt2());
        }
        let head = pattern.strip_suffix(LOOKAHEAD_TAIL)?;
        Some(Self::Regex {
            full: Regex::new(&format!(r"{head}|\s+")).ok()?,
            head: Regex::new(&format!("^(?:{head})")).ok()?,
        })
    }
}

/// The serialized component's `type`, or "" when absent.
pub(crate) fn type_of(component: &Value) -> &str {
    component["type"].as_str().unwrap_or("")
}

/// GPT-2's reversible byte to char mapping (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the 68 others to U+0100.. in byte order.
const BYTE_CHARS: [char; 256] = byte_chars();

const fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    let mut b = 0usize;
    while b < 256 {
        let keeps = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if keeps {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        // Every code here is below 0x200, hence a valid scalar value.
        table[b] = match char::from_u32(code) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
}

/// Char at byte offset `i` (a char boundary) and its class.
#[inline]
fn char_at(text: &str, i: usize, table: &[u8]) -> (char, u8) {
    let c = text[i..].chars().next().unwrap_or('\0');
    (c, table[c as usize])
}

/// End of the maximal run of chars of `class` starting at byte `i`.
#[inline]
fn run_end(text: &str, mut i: usize, class: u8, table: &[u8]) -> usize {
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if table[usize::from(b)] != class {
                break;
            }
            i += 1;
        } else {
            let (c, cls) = char_at(text, i, table);
            if cls != class {
                break;
            }
            i += c.len_utf8();
        }
    }
    i
}

/// The char at byte `i` (a char boundary below `text.len()`): its length and class.
#[inline]
fn len_and_class(text: &str, i: usize, table: &[u8]) -> (usize, u8) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        (1, table[usize::from(b)])
    } else {
        let (c, class) = char_at(text, i, table);
        (c.len_utf8(), class)
    }
}

/// End of the GPT-2 regex match that starts at byte `start` (< `text.len()`).
fn gpt2_piece_end(text: &str, start: usize, table: &[u8]) -> usize {
    let bytes = text.as_bytes();
    let first = bytes[start];
    let (len, class) = len_and_class(text, start, table);
    let after = start + len;
    // 1. `'s|'t|'re|'ve|'m|'ll|'d` (case-sensitive).
    if first == b'\'' {
        match (bytes.get(after), bytes.get(after + 1)) {
            (Some(b's' | b't' | b'm' | b'd'), _) => return after + 1,
            (Some(b'r' | b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => return after + 2,
            _ => {}
        }
    }
    // 2.-4. ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`.
    if first == b' ' && after < bytes.len() {
        let (next_len, next_class) = len_and_class(text, after, table);
        if next_class != SPACE {
            return run_end(text, after + next_len, next_class, table);
        }
    }
    match class {
        LETTER | NUMBER | OTHER => run_end(text, after, class, table),
        // 5.-6. `\s+(?!\S)|\s+`.
        _ => whitespace_piece_end(text, start, run_end(text, after, SPACE, table)),
    }
}

/// `\s+(?!\S)|\s+` given the maximal whitespace run `start..run_end`: at the end of the text the
/// whole run; before a non-space char the run minus its last char, unless that leaves nothing.
#[inline]
fn whitespace_piece_end(text: &str, start: usize, run_end: usize) -> usize {
    if run_end == text.len() {
        return run_end;
    }
    let last = text[start..run_end]
        .char_indices()
        .next_back()
        .map_or(start, |(i, _)| start + i);
    if last > start {
        last
    } else {
        run_end
    }
}

/// Fix-up of a `regex`-crate match of `A|\s+` into the match of `A|\s+(?!\S)|\s+`.
fn regex_piece_end(text: &str, start: usize, end: usize, head: &Regex) -> usize {
    let matched = &text[start..end];
    let mut chars = matched.chars();
    let is_multi_char_space = matches!(
        (chars.next(), chars.next_back()),
        (Some(a), Some(b)) if a.is_whitespace() && b.is_whitespace()
    );
    if end == text.len() || !is_multi_char_space || head.is_match(&text[start..]) {
        return end;
    }
    // The match is the final `\s+` branch: a maximal whitespace run before a non-space char.
    whitespace_piece_end(text, start, end)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    use tokenizers::{
        OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, SplitDelimiterBehavior,
    };

    use super::*;

    /// Byte ranges of HF's pre-tokenizer pieces.
    fn hf_ranges(pre: &impl PreTokenizer, text: &str) -> Vec<(usize, usize)> {
        let mut pts = PreTokenizedString::from(text);
        pre.pre_tokenize(&mut pts).unwrap();
        pts.get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(_, offsets, _)| offsets)
            .collect()
    }

    /// Byte ranges of our pieces (they tile the text).
    fn our_ranges(seg: &ByteLevel, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        seg.for_each_piece(text, |p| {
            out.push((at, at + p.len()));
            at += p.len();
            Ok(())
        })
        .unwrap();
        out
    }

    fn split_segmenter(pattern: &str) -> (ByteLevel, Split) {
        let pre = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
        let seg = ByteLevel::detect(&Value::Null, &pre).unwrap();
        let hf = Split::new(
            SplitPattern::Regex(pattern.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .unwrap();
        (seg, hf)
    }

    /// Every scalar value in contexts that tell its class (L, N, S or O) apart.
    #[test]
    fn gpt2_split_matches_hf_on_every_char() {
        let seg = gpt2();
        let hf = tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true);
        // Exhaustive in release (`cargo test --release`); a 1-in-16 sample in slow debug builds.
        let step = if cfg!(debug_assertions) { 16 } else { 1 };
        let chars: Vec<char> = (0..0x11_0000u32)
            .step_by(step)
            .filter_map(char::from_u32)
            .collect();
        for block in chars.chunks(8192) {
            let mut text = String::new();
            for &c in block {
                text.extend(['a', c, '1', c, '.', c, ' ', c]);
            }
            assert_eq!(
                our_ranges(&seg, &text),
                hf_ranges(&hf, &text),
                "block at {:?}",
                block[0]
            );
        }
    }

    fn mixed_text() -> impl Strategy<Value = String> {
        let fragments = prop::sample::select(vec![
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\x0b",
            "\x0c",
            "\x1c",
            "\u{85}",
            "\u{a0}",
            "\u{2009}",
            "\u{2028}",
            "\u{3000}",
            "'s",
            "'S",
            "'ſ",
            "'LL",
            "'Ve",
            "'re",
            "'ll",
            "'",
            "’",
            "a",
            "Bc",
            "é",
            "e\u{301}",
            "\u{301}",
            "12",
            "3",
            "٣",
            "½",
            ".",
            "!?",
            "<|endoftext|>",
            "中文",
            "مرحبا",
            "😀",
            "▁",
            "_",
            "\0",
        ]);
        prop::collection::vec(
            prop_oneof![
                fragments.prop_map(str::to_owned),
                any::<char>().prop_map(String::from)
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    static SPLITTERS: std::sync::LazyLock<Vec<(ByteLevel, Split)>> =
        std::sync::LazyLock::new(|| KNOWN_PATTERNS.iter().map(|p| split_segmenter(p)).collect());

    fn cases() -> u32 {
        std::env::var("L2T_MAX_EXAMPLES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]
        #[test]
        fn split_patterns_match_hf(text in mixed_text()) {
            let gpt2_hf = tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true);
            prop_assert_eq!(our_ranges(&gpt2(), &text), hf_ranges(&gpt2_hf, &text));
            for (seg, hf) in SPLITTERS.iter() {
                prop_assert_eq!(our_ranges(seg, &text), hf_ranges(hf, &text));
            }
        }
    }

    fn pieces(seg: &ByteLevel, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        seg.for_each_piece(text, |p| {
            out.push(p.to_owned());
            Ok(())
        })
        .unwrap();
        out
    }

    fn gpt2() -> ByteLevel {
        let pre = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false,
            "trim_offsets": true, "use_regex": true});
        ByteLevel::detect(&Value::Null, &pre).unwrap()
    }

    #[test]
    fn gpt2_splits_like_the_regex() {
        let seg = gpt2();
        assert_eq!(
            pieces(&seg, "Hello world's  end\n\n  x 12 ?! 'S"),
            ["Hello", " world", "'s", " ", " end", "\n\n ", " x", " 12", " ?!", " '", "S"]
        );
        assert_eq!(pieces(&seg, "a  "), ["a", "  "]);
        assert_eq!(pieces(&seg, "\t\ta"), ["\t", "\t", "a"]);
        assert_eq!(pieces(&seg, " "), [" "]);
        assert_eq!(pieces(&seg, "x\u{a0}y"), ["x", "\u{a0}", "y"]);
    }

    #[test]
    fn byte_chars_is_gpt2_mapping() {
        let t = BYTE_CHARS;
        assert_eq!(t[usize::from(b' ')], 'Ġ');
        assert_eq!(t[usize::from(b'\n')], 'Ċ');
        assert_eq!(t[usize::from(b'a')], 'a');
        assert_eq!(t[0xAD], 'Ń');
    }

    #[test]
    fn llama3_pattern_compiles_and_splits() {
        let pre = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
        let seg = ByteLevel::detect(&Value::Null, &pre).unwrap();
        assert_eq!(
            pieces(&seg, "Hello  world 12345\n\n x"),
            ["Hello", " ", " world", " ", "123", "45", "\n\n", " x"]
        );
    }
}

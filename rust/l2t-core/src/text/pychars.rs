//! Python 3 `str` semantics for single characters and whole strings.
//!
//! l2t's tasks are defined by a Python reference: "a word" is an item of `s.split()`,
//! "a digit" is a character with `c.isdigit()`, the length of a text is `len(s)`, and so
//! on. Rust's `char` predicates use other definitions (`char::is_whitespace` is not
//! `str.isspace`, `char::is_numeric` is not `str.isdigit`) and a Unicode version that moves
//! with the compiler, so counts would silently drift from Python. Everything here is
//! instead driven by tables generated from Python itself (`scripts/gen_unicode_tables.py`,
//! see [`UNICODE_VERSION`] and [`PYTHON_VERSION`]), so results match that Python on every
//! code point, case mappings included.
//!
//! These functions run per character over gigabytes of text, so each starts with an ASCII
//! fast path (a bit test on a 128-bit mask). Non-ASCII characters first consult per-block
//! bitmaps (whole CJK or Hangul blocks are answered there) and only then binary-search
//! the generated range tables, which remain the single source of truth.

#[path = "unicode_tables.rs"]
mod unicode_tables;

use std::cmp::Ordering;
use std::iter::FusedIterator;

use unicode_tables as t;

/// Unicode version the character tables were generated from (that of the generating Python).
pub const UNICODE_VERSION: &str = t::UNICODE_VERSION;

/// The Python whose `str` semantics the tables reproduce, e.g. `"CPython 3.11.7"`.
pub const PYTHON_VERSION: &str = t::PYTHON_VERSION;

/// A Python character class, exact over all scalar values.
///
/// `ranges` is the truth; `ascii`, `any` and `all` are summaries of it that let almost
/// every lookup finish without the binary search (ASCII text, whole CJK or Hangul blocks).
struct Class {
    /// Bit `c` set iff ASCII `c` is a member.
    ascii: u128,
    /// Bit `b` set iff 256-code-point block `b` holds at least one member.
    any: [u64; t::BLOCK_WORDS],
    /// Bit `b` set iff every scalar value of block `b` is a member.
    all: [u64; t::BLOCK_WORDS],
    /// Sorted, disjoint, inclusive code-point ranges of the members.
    ranges: &'static [(u32, u32)],
}

impl Class {
    #[inline]
    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        if c < 0x80 {
            return (self.ascii >> c) & 1 != 0;
        }
        let block = (c >> 8) as usize;
        if !block_bit(&self.any, block) {
            return false;
        }
        if block_bit(&self.all, block) {
            return true;
        }
        in_ranges(self.ranges, c)
    }
}

/// A Python case mapping of single characters, listing only the characters that change.
struct CaseMap {
    /// For each 256-code-point block of planes 0-1: 0 if no character in it changes, else
    /// 1 + the index of its leaf. No character beyond plane 1 changes.
    block_leaf: [u8; t::CASE_MAP_BLOCKS],
    /// 256-bit sets of the characters of one block that change.
    leaves: &'static [[u64; 4]],
    /// Sorted `(from, to)` pairs where the mapping is one character.
    single: &'static [(u32, u32)],
    /// Sorted `(from, to)` pairs where the mapping is several characters (e.g. `'ß'` to `"Ss"`).
    multi: &'static [(u32, &'static str)],
}

impl CaseMap {
    /// Whether `c` has a mapping, in constant time.
    ///
    /// Most characters of cased text (lowercase letters, for `lower`) do not change; this
    /// spares them the binary search, which is latency-bound.
    #[inline]
    fn changes(&self, c: u32) -> bool {
        let Some(&leaf) = self.block_leaf.get((c >> 8) as usize) else {
            return false;
        };
        if leaf == 0 {
            return false;
        }
        let word = self.leaves[usize::from(leaf) - 1][((c >> 6) & 3) as usize];
        (word >> (c & 63)) & 1 != 0
    }

    /// Appends the mapping of `c` to `out`.
    #[inline]
    fn push(&self, out: &mut String, c: char) {
        let cp = c as u32;
        if self.changes(cp) {
            if let Some(m) = lookup(self.single, cp) {
                // The generator only emits scalar values; fall back to `c` rather than panic.
                out.push(char::from_u32(m).unwrap_or(c));
                return;
            }
            if let Some(m) = lookup(self.multi, cp) {
                out.push_str(m);
                return;
            }
        }
        out.push(c);
    }
}

#[inline]
fn block_bit(bitmap: &[u64; t::BLOCK_WORDS], block: usize) -> bool {
    (bitmap[block >> 6] >> (block & 63)) & 1 != 0
}

/// Whether `c` lies in one of the sorted, disjoint, inclusive `ranges`.
#[inline]
fn in_ranges(ranges: &[(u32, u32)], c: u32) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                Ordering::Less
            } else if lo > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// Looks `c` up in a sorted `(code point, value)` table.
#[inline]
fn lookup<V: Copy>(table: &[(u32, V)], c: u32) -> Option<V> {
    table
        .binary_search_by_key(&c, |&(k, _)| k)
        .ok()
        .map(|i| table[i].1)
}

/// Python's `c.isspace()`: also exactly the characters `str.split()` splits on.
///
/// Python's definition is bidi-based (category Zs or bidi class WS, B or S), not the
/// `White_Space` property behind [`char::is_whitespace`]: it adds `\x1c`–`\x1f`.
/// U+200B ZERO WIDTH SPACE is whitespace in neither.
#[inline]
pub fn is_space(c: char) -> bool {
    t::SPACE.contains(c)
}

/// Python's `c.isalnum()` (`isalpha`, `isdecimal`, `isdigit` or `isnumeric`, so `'½'` counts).
#[inline]
pub fn is_alnum(c: char) -> bool {
    t::ALNUM.contains(c)
}

/// Python's `c.isalpha()` (general category L*; combining marks are not alphabetic).
#[inline]
pub fn is_alpha(c: char) -> bool {
    t::ALPHA.contains(c)
}

/// Python's `c.isdigit()` (decimal or digit numeric type: `'²'` yes, `'½'` no).
#[inline]
pub fn is_digit(c: char) -> bool {
    t::DIGIT.contains(c)
}

/// Python's `c.isupper()` for a one-character string (the `Uppercase` property).
///
/// For longer strings Python's `isupper` is a different, whole-string rule; callers that
/// need it must apply it themselves.
#[inline]
pub fn is_upper(c: char) -> bool {
    t::UPPER.contains(c)
}

/// Whether `c` is in Python's `string.punctuation` (the 32 ASCII punctuation characters).
#[inline]
pub fn is_ascii_punctuation(c: char) -> bool {
    // `string.punctuation` is exactly the ASCII graphic non-alphanumerics, which is what
    // `char::is_ascii_punctuation` tests; the unit tests pin the two together.
    c.is_ascii_punctuation()
}

/// `Case_Ignorable`, as Python's final-sigma rule in `str.lower()` sees it.
#[inline]
fn is_case_ignorable(c: char) -> bool {
    t::CASE_IGNORABLE.contains(c)
}

/// `Cased`, as Python's final-sigma rule in `str.lower()` sees it.
#[inline]
fn is_cased(c: char) -> bool {
    t::CASED.contains(c)
}

/// Python's `len(s)`: the number of code points (not bytes, not graphemes).
#[inline]
pub fn py_len(s: &str) -> usize {
    s.chars().count()
}

/// Iterator over the byte ranges of the words of Python's `s.split()`.
#[derive(Clone, Debug)]
struct Spans<'a> {
    s: &'a str,
    pos: usize,
}

/// Python's `isspace` for an ASCII byte.
#[inline]
fn is_ascii_space_byte(b: u8) -> bool {
    // All ASCII separators are at most b' ' (the tests pin this), so one compare and a
    // 64-bit shift decide, instead of a 128-bit shift per byte.
    b <= b' ' && ((t::SPACE.ascii as u64) >> b) & 1 != 0
}

/// First byte index at or after `i` whose character's [`is_space`] differs from `SPACE`.
///
/// `i` must be a char boundary; it only ever advances by whole characters. `SPACE` is a
/// const parameter so each of the two scanning loops is compiled without the extra test.
#[inline]
fn advance_while<const SPACE: bool>(s: &str, mut i: usize) -> usize {
    let bytes = s.as_bytes();
    while let Some(&b) = bytes.get(i) {
        if b < 0x80 {
            // Byte-level ASCII path: most text is ASCII, and no decoding is needed for it.
            if is_ascii_space_byte(b) != SPACE {
                break;
            }
            i += 1;
        } else {
            let c = s[i..].chars().next().unwrap_or_default();
            if is_space(c) != SPACE {
                break;
            }
            i += c.len_utf8();
        }
    }
    i
}

impl Iterator for Spans<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        let start = advance_while::<true>(self.s, self.pos);
        if start >= self.s.len() {
            self.pos = start;
            return None;
        }
        let end = advance_while::<false>(self.s, start);
        // The separator at `end` (if any) is skipped by the next call.
        self.pos = end;
        Some((start, end))
    }
}

impl FusedIterator for Spans<'_> {}

/// Iterator returned by [`split_whitespace`].
#[derive(Clone, Debug)]
pub struct SplitWhitespace<'a> {
    spans: Spans<'a>,
}

impl<'a> Iterator for SplitWhitespace<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let (start, end) = self.spans.next()?;
        Some(&self.spans.s[start..end])
    }
}

impl FusedIterator for SplitWhitespace<'_> {}

/// Python's `s.split()` with no argument: maximal runs of non-[`is_space`] characters.
///
/// Unlike [`str::split_whitespace`], this splits on `\x1c`–`\x1f` and follows Python's
/// whitespace set exactly; leading, trailing and repeated separators yield no empty words.
pub fn split_whitespace(s: &str) -> SplitWhitespace<'_> {
    SplitWhitespace {
        spans: Spans { s, pos: 0 },
    }
}

/// Byte ranges `(start, end)` of the words of Python's `s.split()`, in order.
///
/// `&s[start..end]` is the word; positions let callers map words back to the text.
pub fn word_spans(s: &str) -> Vec<(usize, usize)> {
    Spans { s, pos: 0 }.collect()
}

/// Python's `Final_Sigma` test for the U+03A3 starting at byte `i` of `s`:
/// `cased case-ignorable* Σ !(case-ignorable* cased)`, scanning the original text.
fn is_final_sigma(s: &str, i: usize) -> bool {
    let before = s[..i].chars().rev().find(|&c| !is_case_ignorable(c));
    if !before.is_some_and(is_cased) {
        return false;
    }
    let after = s[i + 'Σ'.len_utf8()..]
        .chars()
        .find(|&c| !is_case_ignorable(c));
    !after.is_some_and(is_cased)
}

/// Appends Python's lowercase of the character `c` found at byte `i` of `s`.
#[inline]
fn push_lower(out: &mut String, s: &str, i: usize, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if c == 'Σ' {
        // The one context-dependent mapping; Python applies it in lower() and capitalize().
        out.push(if is_final_sigma(s, i) { 'ς' } else { 'σ' });
    } else {
        t::LOWER.push(out, c);
    }
}

/// Python's `s.lower()`: full lowercase mapping (`'İ'` becomes `"i\u{307}"`) with the
/// final-sigma rule (`"ΟΔΟΣ"` becomes `"οδος"`).
pub fn lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        push_lower(&mut out, s, i, c);
    }
    out
}

/// Python's `s.capitalize()` (3.8+): the first character to its full *title* case
/// (`'ǆ'` becomes `'ǅ'`, `'ß'` becomes `"Ss"`), the rest as in [`lower`].
pub fn capitalize(s: &str) -> String {
    let mut chars = s.char_indices();
    let Some((_, first)) = chars.next() else {
        return String::new();
    };
    let mut out = String::with_capacity(s.len());
    if first.is_ascii() {
        out.push(first.to_ascii_uppercase());
    } else {
        t::TITLE.push(&mut out, first);
    }
    for (i, c) in chars {
        push_lower(&mut out, s, i, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: [&Class; 7] = [
        &t::SPACE,
        &t::ALNUM,
        &t::ALPHA,
        &t::DIGIT,
        &t::UPPER,
        &t::CASE_IGNORABLE,
        &t::CASED,
    ];

    #[test]
    fn tables_are_sorted_and_disjoint() {
        for class in CLASSES {
            let r = class.ranges;
            assert!(r.iter().all(|&(lo, hi)| lo <= hi && hi <= 0x10_FFFF));
            // Adjacent ranges would have been merged by the generator.
            assert!(r.windows(2).all(|w| w[0].1 + 1 < w[1].0));
        }
        for map in [&t::LOWER, &t::TITLE] {
            assert!(map.single.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(map.multi.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(map
                .single
                .iter()
                .all(|&(_, to)| char::from_u32(to).is_some()));
        }
    }

    #[test]
    fn summaries_agree_with_ranges() {
        // The ASCII masks and block bitmaps are shortcuts; they must never change an answer.
        for class in CLASSES {
            for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
                assert_eq!(
                    class.contains(c),
                    in_ranges(class.ranges, c as u32),
                    "{c:?}"
                );
            }
        }
        for map in [&t::LOWER, &t::TITLE] {
            let mut keys: Vec<u32> = map.single.iter().map(|e| e.0).collect();
            keys.extend(map.multi.iter().map(|e| e.0));
            keys.sort_unstable();
            let flagged: Vec<u32> = (0..=0x10_FFFF).filter(|&c| map.changes(c)).collect();
            assert_eq!(flagged, keys);
        }
    }

    #[test]
    fn space() {
        for b in 0..0x80u8 {
            assert_eq!(is_ascii_space_byte(b), is_space(char::from(b)), "{b:#x}");
        }
        for c in [' ', '\t', '\n', '\x0b', '\x0c', '\r'] {
            assert!(is_space(c));
        }
        // Python's file/group/record/unit separators are whitespace; Rust's are not.
        for c in ['\x1c', '\x1d', '\x1e', '\x1f'] {
            assert!(is_space(c));
        }
        for c in [
            '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{2028}',
        ] {
            assert!(is_space(c));
        }
        for c in ['\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}'] {
            assert!(is_space(c));
        }
        for c in [
            '\u{200b}',
            '\u{feff}',
            '\u{180e}',
            'a',
            '\0',
            '\x7f',
            '\u{10ffff}',
        ] {
            assert!(!is_space(c));
        }
    }

    #[test]
    fn classes() {
        assert!(is_alnum('½') && !is_digit('½') && !is_alpha('½'));
        assert!(is_digit('²') && is_alnum('²'));
        assert!(is_digit('٣') && is_digit('①'));
        assert!(!is_digit('一') && is_alnum('一') && is_alpha('一'));
        assert!(is_alpha('é') && is_alpha('ß') && is_alpha('ǅ'));
        // Devanagari combining signs (Mn/Mc) are neither alphabetic nor alphanumeric.
        for c in ['\u{093e}', '\u{094d}', '\u{0902}', '\u{0301}'] {
            assert!(!is_alpha(c) && !is_alnum(c));
        }
        assert!(is_alpha('क'));
        assert!(is_upper('A') && is_upper('É') && is_upper('Ω') && is_upper('Ⅻ'));
        assert!(!is_upper('ǅ') && !is_upper('a') && !is_upper('1'));
        assert!(!is_alnum('_') && !is_alnum(' '));
    }

    #[test]
    fn punctuation_is_python_string_punctuation() {
        let python = r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##;
        assert_eq!(python.len(), 32);
        for c in '\0'..='\u{ff}' {
            assert_eq!(is_ascii_punctuation(c), python.contains(c), "{c:?}");
        }
        assert!(!is_ascii_punctuation('«') && !is_ascii_punctuation('。'));
    }

    #[test]
    fn split() {
        let s = "\x1c a\u{a0}b\u{200b}c\tdé\u{3000}\u{85}f  ";
        let words: Vec<&str> = split_whitespace(s).collect();
        assert_eq!(words, ["a", "b\u{200b}c", "dé", "f"]);
        let spans = word_spans(s);
        let via_spans: Vec<&str> = spans.iter().map(|&(a, b)| &s[a..b]).collect();
        assert_eq!(via_spans, words);
        assert_eq!(split_whitespace("").count(), 0);
        assert_eq!(split_whitespace(" \u{2028}\x1f ").count(), 0);
        assert_eq!(word_spans("x"), [(0, 1)]);
    }

    #[test]
    fn length() {
        assert_eq!(py_len(""), 0);
        assert_eq!(py_len("héllo"), 5);
        assert_eq!(py_len("👍🏽"), 2);
        assert_eq!(py_len("e\u{301}"), 2);
    }

    #[test]
    fn lowercase() {
        assert_eq!(lower("HeLLo"), "hello");
        // Kelvin sign and Ohm sign lowercase to ASCII k and Greek omega.
        assert_eq!(lower("\u{212a}\u{2126}"), "kω");
        assert_eq!(lower("İ"), "i\u{307}");
        assert_eq!(lower("ß"), "ß");
        assert_eq!(lower("ǅ"), "ǆ");
        assert_eq!(lower("ΟΔΟΣ ΣΑ"), "οδος σα");
        assert_eq!(lower("Σ"), "σ");
        assert_eq!(lower("AΣ'"), "aς'");
        assert_eq!(lower("AΣ'b"), "aσ'b");
        assert_eq!(lower("A'Σ"), "a'ς");
        assert_eq!(lower("ΣΣ"), "σς");
    }

    #[test]
    fn capitalization() {
        assert_eq!(capitalize(""), "");
        assert_eq!(capitalize("hELLO wORLD"), "Hello world");
        assert_eq!(capitalize("ßa"), "Ssa");
        assert_eq!(capitalize("ǆemal"), "ǅemal");
        assert_eq!(capitalize("ǄEMAL"), "ǅemal");
        assert_eq!(capitalize("ﬁx"), "Fix");
        assert_eq!(capitalize("İSTANBUL"), "İstanbul");
        assert_eq!(capitalize("ΑΣ"), "Ας");
        assert_eq!(capitalize("ΣΑΣ"), "Σας");
        assert_eq!(capitalize("1A"), "1a");
    }

    #[test]
    fn versions() {
        assert!(!UNICODE_VERSION.is_empty());
        assert!(PYTHON_VERSION.contains("Python"));
    }
}

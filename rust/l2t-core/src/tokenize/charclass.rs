//! Unicode character classes exactly as the tokenizers' regex engine defines them.
//!
//! The GPT-2 pre-tokenizer regex (`tokenizers` compiles it with `fancy-regex`) uses `\p{L}`,
//! `\p{N}` and `\s`. `fancy-regex` hands these escapes to `regex-automata`/`regex-syntax`, the
//! same crates (one version in the lock file) that back the `regex` crate we depend on. So the
//! table here is *derived from the regex engine itself* rather than from another Unicode table
//! whose version could differ: at first use we write every scalar value into one string and let
//! `regex` find the runs of `\p{L}`, `\p{N}` and `\s` in it.
//!
//! Trade-off: one 1.1 MiB table per process (built once, in ~10-50 ms in release) buys an O(1),
//! branch-free classification of any char; the ASCII part is what prose hits and stays in cache.
//! An exhaustive test (`tests/tokenize_exact.rs`) checks the resulting splitter against the HF
//! pre-tokenizer on every scalar value.

use std::sync::LazyLock;

/// A letter (`\p{L}`).
pub(crate) const LETTER: u8 = 0;
/// A number (`\p{N}`).
pub(crate) const NUMBER: u8 = 1;
/// White space (`\s`, Unicode `White_Space`).
pub(crate) const SPACE: u8 = 2;
/// Anything else (`[^\s\p{L}\p{N}]`).
pub(crate) const OTHER: u8 = 3;

static TABLE: LazyLock<Vec<u8>> = LazyLock::new(build);

/// The class table, indexed by `char as usize` (length 0x110000).
pub(crate) fn table() -> &'static [u8] {
    &TABLE
}

fn build() -> Vec<u8> {
    let mut table = vec![OTHER; 0x11_0000];
    let mut all = String::with_capacity(4 * 0x11_0000);
    all.extend((0..0x11_0000u32).filter_map(char::from_u32));
    for (pattern, class) in [(r"\p{L}+", LETTER), (r"\p{N}+", NUMBER), (r"\s+", SPACE)] {
        // A constant pattern: it always compiles.
        let re = regex::Regex::new(pattern).expect("constant Unicode class pattern");
        for m in re.find_iter(&all) {
            for c in m.as_str().chars() {
                table[c as usize] = class;
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_common_chars() {
        let t = table();
        let class = |c: char| t[c as usize];
        assert_eq!(class('a'), LETTER);
        assert_eq!(class('É'), LETTER);
        assert_eq!(class('中'), LETTER);
        assert_eq!(class('7'), NUMBER);
        assert_eq!(class('½'), NUMBER);
        assert_eq!(class('٣'), NUMBER);
        for c in [
            ' ', '\t', '\n', '\r', '\x0b', '\x0c', '\u{85}', '\u{a0}', '\u{3000}',
        ] {
            assert_eq!(class(c), SPACE, "{c:?}");
        }
        // Not White_Space, although Python's str.isspace() says so.
        for c in ['\x1c', '\x1f', '\u{200b}', '\'', '!', '😀', '\u{301}'] {
            assert_eq!(class(c), OTHER, "{c:?}");
        }
    }
}

//! The added-token guard: does a text possibly contain an added token?
//!
//! HF extracts added tokens (`<|endoftext|>`, `[MASK]`, `<s>`, ...) from the raw text before
//! anything else, and their neighbourhood is then processed differently (e.g. the Prepend
//! normalizer runs on each segment between them, `lstrip`/`rstrip` eat spaces). The fast paths
//! do not model any of that: a text that may contain an added token goes through the HF
//! pipeline whole. The guard is a conservative over-approximation:
//! - a token with `normalized: false` matches the raw text only: we look for its content;
//! - a token with `normalized: true` matches the *normalized* text. With no normalizer that is
//!   the raw text again. With the metaspace normalizer (`' '` -> `r`, `r` prepended), any
//!   occurrence of the normalized content implies that each maximal fragment of the content
//!   without `' '`/`r` occurs verbatim in the raw text, so we look for the longest fragment
//!   (none: no guard is possible, the tokenizer takes the HF path). Other normalizers (e.g.
//!   lowercasing) are not modelled: the tokenizer takes the HF path.
//!
//! # Performance notes
//! One `regex` of escaped literals: the `regex` crate compiles a literal alternation to a
//! SIMD/Aho-Corasick prefilter, so a text without a match is scanned at several GB/s.

use regex::{Regex, RegexBuilder};

/// How tokens with `normalized: true` can be guarded on the raw text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NormalizedTokens {
    /// The normalizer is the identity: look for the content.
    Content,
    /// The metaspace normalizer with this meta char: look for the longest fragment.
    MetaFragments(char),
    /// Not modelled: a normalized added token makes the guard impossible.
    Unsupported,
}

/// A multi-literal matcher over the raw text.
#[derive(Debug)]
pub(crate) struct AddedTokenGuard {
    re: Option<Regex>,
}

impl AddedTokenGuard {
    /// Builds the guard for `(content, normalized)` pairs; `None` when it cannot be exact.
    pub(crate) fn new<'a>(
        tokens: impl IntoIterator<Item = (&'a str, bool)>,
        normalized: NormalizedTokens,
    ) -> Option<Self> {
        let mut literals: Vec<&str> = Vec::new();
        for (content, is_normalized) in tokens {
            if content.is_empty() {
                continue; // HF never matches an empty token.
            }
            let literal = match (is_normalized, normalized) {
                (false, _) | (true, NormalizedTokens::Content) => content,
                (true, NormalizedTokens::MetaFragments(meta)) => content
                    .split([' ', meta])
                    .max_by_key(|f| f.len())
                    .filter(|f| !f.is_empty())?,
                (true, NormalizedTokens::Unsupported) => return None,
            };
            literals.push(literal);
        }
        if literals.is_empty() {
            return Some(Self { re: None });
        }
        literals.sort_unstable();
        literals.dedup();
        let pattern = literals
            .iter()
            .map(|l| regex::escape(l))
            .collect::<Vec<_>>()
            .join("|");
        let re = RegexBuilder::new(&pattern)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .ok()?;
        Some(Self { re: Some(re) })
    }

    /// Whether `text` may contain an added token (then it must take the HF path).
    #[inline]
    pub(crate) fn may_match(&self, text: &str) -> bool {
        self.re.as_ref().is_some_and(|re| re.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_normalized_tokens() {
        let guard = AddedTokenGuard::new(
            [("<s>", false), ("[MASK]", false), ("", false)],
            NormalizedTokens::Unsupported,
        )
        .unwrap();
        assert!(guard.may_match("a <s> b"));
        assert!(guard.may_match("x[MASK]"));
        assert!(!guard.may_match("[mask] <S>"));

        let meta = AddedTokenGuard::new(
            [("hello world", true)],
            NormalizedTokens::MetaFragments('▁'),
        )
        .unwrap();
        assert!(meta.may_match("say▁world"));
        assert!(!meta.may_match("hello"));
        assert!(
            AddedTokenGuard::new([("▁ ", true)], NormalizedTokens::MetaFragments('▁')).is_none()
        );
        assert!(AddedTokenGuard::new([("x", true)], NormalizedTokens::Unsupported).is_none());
        assert!(!AddedTokenGuard::new([], NormalizedTokens::Content)
            .unwrap()
            .may_match("anything"));
    }
}

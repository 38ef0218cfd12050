//! Where one BPE word can be cut without changing its tokens: a load-time table proven from the
//! vocabulary.
//!
//! # The theorem
//! Let the model be BPE with no dropout, `ignore_merges == false`, no continuing-subword prefix
//! and no end-of-word suffix. `merge_word` gives every char its initial symbol(s): the char's
//! token if its one-char string is in the vocabulary, else (with `byte_fallback`) the tokens
//! `<0xXX>` of its bytes, else the unk token (consecutive unknown chars fused into one with
//! `fuse_unk`), else nothing. We require that every char yields a symbol (all 256 byte tokens
//! exist with `byte_fallback`, or the unk token is in the vocabulary): a dropped char would make
//! its neighbours adjacent. For a char `c` let `start(c)`/`end(c)` be the first/last char of the
//! strings of its first/last symbol (`c` itself, `<`/`>` for byte tokens, the unk token's ends).
//!
//! Claim: cutting a word between adjacent chars `a`, `b` does not change its tokens (the tokens
//! of the word are those of the left part followed by those of the right part) when
//! (i) `a` and `b` are not both unknown chars fused into one unk, and
//! (ii) no vocabulary token contains `end(a)` immediately followed by `start(b)`.
//!
//! Proof. By (i) and the per-char construction every initial symbol lies on one side of the cut.
//! A merge `(l, r)` yields the token whose string is `str(l) + str(r)` (the BPE builder rejects
//! merges whose concatenation is not a vocabulary token). If a merge joined a symbol ending at
//! the cut with one starting there, `str(l)` would end with `end(a)` (its last constituent is
//! `a`'s last symbol) and `str(r)` would start with `start(b)`, so the merged token would contain
//! `end(a) start(b)`, excluded by (ii). So no merge crosses the cut. `merge_all` repeatedly
//! applies the applicable merge of lowest (rank, position); restricted to one side, the merges
//! are chosen in the same order as for that side alone (positions shift by a constant) and the
//! sides never interact: the symbols of the word are the concatenation of the sides' symbols.
//! The argument holds for any set of such cuts at once.
//!
//! # Performance notes
//! Allowed cuts between two ASCII chars are a 128 x 128 bit table (one shift per char in the
//! segmenter); other pairs go through two hash sets (`joinable` pairs: ~3k for Mistral). Cutting
//! Mistral's pieces at punctuation and newlines this way divides the distinct pieces of prose by
//! ~2.3 (78k -> 33k on 5 MB of novels), i.e. the BPE calls of a cold cache.

use rustc_hash::FxHashSet;
use tokenizers::{Model, ModelWrapper};

/// How a char outside the vocabulary becomes symbols.
#[derive(Debug, Clone, Copy)]
enum Unknown {
    /// `<0xXX>` byte tokens (all 256 exist).
    Bytes,
    /// The unk token, whose string starts with `first` and ends with `last`.
    Unk {
        first: char,
        last: char,
        fused: bool,
    },
}

/// The proven cut table of one BPE model.
#[derive(Debug)]
pub(crate) struct BpeCuts {
    /// Bit `b` of `ascii[a]`: a word may be cut between ASCII chars `a` and `b`.
    ascii: Vec<u128>,
    /// Chars whose one-char string is a vocabulary token.
    singles: FxHashSet<char>,
    /// Adjacent char pairs inside vocabulary tokens.
    joinable: FxHashSet<(char, char)>,
    unknown: Unknown,
}

/// Whether a BPE model merges deterministically on bare pieces: no dropout, no whole-word
/// lookup (`ignore_merges`), no continuing-subword prefix or end-of-word suffix. Fast paths that
/// cut text between merges rely on all four.
pub(crate) fn is_plain_bpe(bpe: &tokenizers::models::bpe::BPE) -> bool {
    bpe.dropout.is_none_or(|p| p <= 0.0)
        && !bpe.ignore_merges
        && bpe
            .continuing_subword_prefix
            .as_deref()
            .unwrap_or("")
            .is_empty()
        && bpe.end_of_word_suffix.as_deref().unwrap_or("").is_empty()
}

impl BpeCuts {
    /// The table for `model`, or `None` when the theorem's assumptions do not hold.
    pub(crate) fn new(model: &ModelWrapper) -> Option<Self> {
        let ModelWrapper::BPE(bpe) = model else {
            return None;
        };
        let plain = is_plain_bpe(bpe);
        if !plain {
            return None;
        }
        let all_bytes = (0..=255u8).all(|b| model.token_to_id(&format!("<0x{b:02X}>")).is_some());
        let unknown = if bpe.byte_fallback && all_bytes {
            Unknown::Bytes
        } else if bpe.byte_fallback {
            return None; // Some chars would use bytes, others unk: not modelled.
        } else {
            let unk = bpe.unk_token.as_deref()?;
            model.token_to_id(unk)?;
            Unknown::Unk {
                first: unk.chars().next()?,
                last: unk.chars().next_back()?,
                fused: bpe.fuse_unk,
            }
        };
        let vocab = bpe.get_vocab();
        let mut singles = FxHashSet::default();
        let mut joinable = FxHashSet::default();
        for token in vocab.keys() {
            let mut chars = token.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                singles.insert(c);
            }
            joinable.extend(token.chars().zip(token.chars().skip(1)));
        }
        let mut cuts = Self {
            ascii: vec![0; 128],
            singles,
            joinable,
            unknown,
        };
        for a in 0..128u8 {
            for b in 0..128u8 {
                if cuts.may_cut_slow(char::from(a), char::from(b)) {
                    cuts.ascii[usize::from(a)] |= 1 << b;
                }
            }
        }
        Some(cuts)
    }

    /// Whether a word may be cut between adjacent chars `a` and `b` (the theorem's (i), (ii)).
    #[inline]
    pub(crate) fn may_cut(&self, a: char, b: char) -> bool {
        let (a32, b32) = (u32::from(a), u32::from(b));
        if a32 < 128 && b32 < 128 {
            (self.ascii[a32 as usize] >> b32) & 1 == 1
        } else {
            self.may_cut_slow(a, b)
        }
    }

    fn may_cut_slow(&self, a: char, b: char) -> bool {
        let (_, end_a, unk_a) = self.ends(a);
        let (start_b, _, unk_b) = self.ends(b);
        let fused = matches!(self.unknown, Unknown::Unk { fused: true, .. });
        let one_fused_unk = fused && unk_a && unk_b;
        let joined_by_a_token = self.joinable.contains(&(end_a, start_b));
        !one_fused_unk && !joined_by_a_token
    }

    /// `(start, end, is_unk)` of the symbols of `c`.
    fn ends(&self, c: char) -> (char, char, bool) {
        if self.singles.contains(&c) {
            return (c, c, false);
        }
        match self.unknown {
            Unknown::Bytes => ('<', '>', false),
            Unknown::Unk { first, last, .. } => (first, last, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(byte_fallback: bool, fuse_unk: bool) -> ModelWrapper {
        let mut vocab = serde_json::Map::new();
        for token in ["a", "b", "c", "ab", "<unk>"] {
            vocab.insert(token.to_owned(), vocab.len().into());
        }
        if byte_fallback {
            for b in 0..=255u8 {
                vocab.insert(format!("<0x{b:02X}>"), vocab.len().into());
            }
        }
        serde_json::from_value(serde_json::json!({
            "type": "BPE", "dropout": null, "unk_token": "<unk>",
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": fuse_unk, "byte_fallback": byte_fallback, "ignore_merges": false,
            "vocab": vocab, "merges": [["a", "b"]],
        }))
        .unwrap()
    }

    #[test]
    fn cuts_follow_the_vocabulary() {
        let cuts = BpeCuts::new(&model(false, true)).unwrap();
        assert!(!cuts.may_cut('a', 'b')); // "ab" is a token
        assert!(cuts.may_cut('b', 'a'));
        assert!(cuts.may_cut('a', 'c'));
        assert!(!cuts.may_cut('x', 'y')); // one fused unk
        assert!(cuts.may_cut('x', 'a')); // "<unk>" then "a": no token has ">a"
        let unfused = BpeCuts::new(&model(false, false)).unwrap();
        assert!(unfused.may_cut('x', 'é'));
        let bytes = BpeCuts::new(&model(true, true)).unwrap();
        assert!(bytes.may_cut('x', 'y')); // byte tokens: ">" then "<", in no token
    }
}

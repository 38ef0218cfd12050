//! Metaspace (SentencePiece-BPE: Mistral, Llama-2) segmentation, with a load-time proof that
//! BPE on the pieces equals BPE on the whole text.
//!
//! # Which configurations qualify (checked at load, anything else is the HF fallback)
//! - *legacy*: normalizer `Sequence[Prepend(r), Replace(String " " -> r)]` (either order) and no
//!   pre-tokenizer: the model sees `r + text.replace(' ', r)` (nothing is prepended to "", which
//!   the caller sends to HF anyway) as ONE word;
//! - *newer*: no normalizer and pre-tokenizer `Metaspace{replacement: r, prepend_scheme, split}`:
//!   `' '` becomes `r`, then `r` is prepended unless the text starts with it (`first` and
//!   `always` agree on a single segment starting at offset 0, `never` prepends nothing); with
//!   `split: true` the pre-tokenizer cuts before every `r` (`MergedWithNext`) and HF runs the
//!   model on each piece, so any model is exact; with `split: false` the model sees one word.
//!
//! # Why splitting one word is exact (the `split: false` and legacy cases)
//! We cut the normalized text before every maximal run of `r` that follows a non-`r` char (a
//! piece is: a run of `r`, then the non-`r` chars up to the next `r`). This is allowed when the
//! model is BPE with no dropout, `ignore_merges == false`, no continuing-subword prefix and no
//! end-of-word suffix, `r` is a vocabulary token, and NO vocabulary token contains a non-`r`
//! char immediately followed by `r` (checked over the whole vocabulary at load). Proof:
//! 1. Initial symbols are per char (the char's token, else its `<0xXX>` byte tokens with
//!    `byte_fallback`, else `unk`, fused over consecutive unknown chars with `fuse_unk`, else
//!    nothing). We require that every char yields a symbol (byte fallback with all 256 byte
//!    tokens, or an `unk` token in the vocabulary): a dropped char would make its neighbours
//!    adjacent (think `r x r` with `x` dropped). `r` is a vocabulary token, so it is never
//!    unknown and an `unk` run never spans a cut; byte-fallback symbols belong to one char. So
//!    every initial symbol lies inside one piece.
//! 2. A merge `(a, b)` produces the token whose string is `str(a) + str(b)` (the BPE builder
//!    refuses merges whose concatenation is not in the vocabulary). A symbol that starts at a
//!    cut starts with the token `r`, so its string starts with `r`; a symbol that ends at a cut
//!    ends with the symbol of the non-`r` char before the cut: `x` itself, a `<0xXX>` token
//!    (ends with `>`) or the unk token (required not to end with `r`). A merge across a cut would
//!    therefore create a token containing "non-`r` char, then `r`", which the vocabulary check
//!    excludes. So no merge crosses a cut.
//! 3. `merge_all` repeatedly applies the lowest (rank, position) applicable merge. Since merges
//!    never cross cuts, the merges inside one piece are chosen in the same relative order as when
//!    the piece is alone (positions shift by a constant), and pieces do not influence each other:
//!    the symbols of the whole word are the concatenation of the pieces' symbols.
//!
//! # Cache misses: finer cuts
//! On a miss, a piece is cut further where [`BpeCuts`] proves it harmless for this vocabulary
//! (for Mistral: between letters and punctuation, around newlines, ...), and the sub-pieces are
//! looked up in (and added to) the same cache. The value of every key is
//! `BPE(normalize(key))`, so keys and sub-keys never disagree.
//!
//! # Performance notes
//! - The cache key of a piece is its raw slice of the text (normalized only on a miss);
//!   building normalized keys in a buffer cost a copy per piece. The scan is byte-wise, looking
//!   for ' ' and the first byte of `r`.
//! - Finer cuts in the hot path itself (a bit-table test per char) cut the cold-cache time of
//!   5 MB of novels by ~2x but slowed the warm path by ~30% (more, shorter lookups); applying
//!   them on misses only keeps the warm speed and most of the cold gain.

use serde_json::Value;
use tokenizers::{Model, ModelWrapper};

use super::bpe_cuts::BpeCuts;
use super::bytelevel::type_of;
use super::cache::WordCache;
use crate::error::{L2tError, Result};

/// A proven metaspace segmenter.
#[derive(Debug)]
pub(crate) struct Metaspace {
    /// The meta char (normally '▁').
    meta: char,
    prepend: Prepend,
    /// Cut before every meta char (`split: true`) rather than before runs of them.
    cut_every_meta: bool,
    /// Extra cuts inside the words between meta chars (used on cache misses), when the model is
    /// a plain BPE.
    cuts: Option<BpeCuts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prepend {
    /// `Prepend` normalizer: always (the text is never empty here).
    Always,
    /// `Metaspace` `first`/`always`: unless the text already starts with a meta char.
    IfMissing,
    /// `Metaspace` `never`.
    Never,
}

impl Metaspace {
    /// Recognizes a supported configuration and, where needed, proves the split (see above).
    pub(crate) fn detect(
        normalizer: &Value,
        pre_tokenizer: &Value,
        model: &ModelWrapper,
    ) -> Option<Self> {
        let seg = if pre_tokenizer.is_null() {
            let meta = legacy_meta(normalizer)?;
            Self {
                meta,
                prepend: Prepend::Always,
                cut_every_meta: false,
                cuts: BpeCuts::new(model),
            }
        } else {
            if !normalizer.is_null() || type_of(pre_tokenizer) != "Metaspace" {
                return None;
            }
            let meta = single_char(&pre_tokenizer["replacement"])?;
            let prepend = match pre_tokenizer["prepend_scheme"].as_str()? {
                "first" | "always" => Prepend::IfMissing,
                "never" => Prepend::Never,
                _ => return None,
            };
            Self {
                meta,
                prepend,
                cut_every_meta: pre_tokenizer["split"].as_bool()?,
                cuts: BpeCuts::new(model),
            }
        };
        if !seg.cut_every_meta && !no_merge_crosses_a_cut(model, seg.meta) {
            return None;
        }
        Some(seg)
    }

    /// The meta char.
    pub(crate) fn meta(&self) -> char {
        self.meta
    }

    /// Calls `f` on the cache key of every piece of `text`, in order. A key is the raw text of
    /// the piece (a slice of `text`, no copy), except for a first piece that gets the prepended
    /// meta char: that one is built in `buf`. The model sees [`Metaspace::normalize`] of the key
    /// (' ' -> meta), which is the piece of the normalized text. Different raw keys (" a", "▁a")
    /// may share a normalized piece: they are separate cache entries with the same ids.
    /// `text` must not be empty (HF handles "": `Prepend` adds nothing to it).
    pub(crate) fn for_each_piece(
        &self,
        text: &str,
        buf: &mut String,
        mut f: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let meta = self.meta;
        let mut meta_utf8 = [0; 4];
        let meta_bytes: &[u8] = meta.encode_utf8(&mut meta_utf8).as_bytes();
        let bytes = text.as_bytes();
        // Length of the meta char (' ' or `meta`) at byte `i`, or 0. A byte-wise scan only
        // finds char starts: continuation bytes (0x80..0xC0) never begin ' ' or `meta`.
        let meta_at = |i: usize| -> usize {
            match bytes[i] {
                b' ' => 1,
                b if b == meta_bytes[0] && bytes[i..].starts_with(meta_bytes) => meta_bytes.len(),
                _ => 0,
            }
        };
        let mut emit = |piece: &str, prepend: bool| -> Result<()> {
            if prepend {
                buf.clear();
                buf.push(meta);
                buf.push_str(piece);
                f(buf)
            } else {
                f(piece)
            }
        };
        let mut i = 0;
        let mut first = true;
        while i < bytes.len() {
            // A piece: a run of meta chars, then the non-meta chars up to the next meta char.
            let run_start = i;
            let mut last_meta = i;
            while i < bytes.len() {
                let len = meta_at(i);
                if len == 0 {
                    break;
                }
                last_meta = i;
                i += len;
            }
            let has_run = i > run_start;
            let mut piece_start = run_start;
            if self.cut_every_meta && has_run {
                // `split: true`: every meta char but the run's last is a piece of its own.
                let mut j = run_start;
                while j < last_meta {
                    let len = meta_at(j);
                    emit(&text[j..j + len], false)?;
                    j += len;
                }
                piece_start = last_meta;
            }
            let prepend = first
                && match self.prepend {
                    Prepend::Always => true,
                    Prepend::IfMissing => !has_run,
                    Prepend::Never => false,
                };
            first = false;
            while i < bytes.len() && meta_at(i) == 0 {
                i += 1;
            }
            emit(&text[piece_start..i], prepend)?;
        }
        Ok(())
    }

    /// The normalized piece of a cache key: ' ' replaced by the meta char.
    pub(crate) fn normalize(&self, key: &str) -> String {
        key.replace(' ', self.meta.encode_utf8(&mut [0; 4]))
    }

    /// The ids of the piece of one cache key (a miss of the encoder's cache). When `BpeCuts`
    /// applies, the key is cut further (at punctuation, newlines, ...) and the sub-pieces go
    /// through `cache` themselves, so a new word form like "▁word,\n\n" mostly reuses known
    /// parts: on a cold cache, ~2.3x fewer BPE calls on prose. The cache's hot path keeps the
    /// coarser keys (fewer lookups per text).
    pub(crate) fn tokenize_piece(
        &self,
        cache: &mut WordCache,
        model: &ModelWrapper,
        key: &str,
    ) -> Result<Vec<u32>> {
        let Some(cuts) = &self.cuts else {
            return self.model_ids(model, key);
        };
        let mut ids = Vec::new();
        let mut start = 0;
        let mut prev: Option<char> = None;
        for (i, c) in key.char_indices() {
            if c == ' ' || c == self.meta {
                prev = None; // The leading run: never cut.
                continue;
            }
            if prev.is_some_and(|p| cuts.may_cut(p, c)) {
                let sub = &key[start..i];
                ids.extend_from_slice(cache.get_or_compute(sub, |_, s| self.model_ids(model, s))?);
                start = i;
            }
            prev = Some(c);
        }
        if start == 0 {
            return self.model_ids(model, key);
        }
        let last = &key[start..];
        ids.extend_from_slice(cache.get_or_compute(last, |_, s| self.model_ids(model, s))?);
        Ok(ids)
    }

    /// The model's ids for the piece of one cache key.
    fn model_ids(&self, model: &ModelWrapper, key: &str) -> Result<Vec<u32>> {
        let piece = self.normalize(key);
        let tokens = model
            .tokenize(&piece)
            .map_err(|e| L2tError::Tokenizer(format!("model failed on {piece:?}: {e}")))?;
        Ok(tokens.into_iter().map(|t| t.id).collect())
    }
}

fn single_char(v: &Value) -> Option<char> {
    let mut chars = v.as_str()?.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// `Sequence[Prepend(r), Replace(" " -> r)]` in either order: returns `r`.
fn legacy_meta(normalizer: &Value) -> Option<char> {
    if type_of(normalizer) != "Sequence" {
        return None;
    }
    let [a, b] = normalizer["normalizers"].as_array()?.as_slice() else {
        return None;
    };
    let (prepend, replace) = match (type_of(a), type_of(b)) {
        ("Prepend", "Replace") => (a, b),
        ("Replace", "Prepend") => (b, a),
        _ => return None,
    };
    let meta = single_char(&prepend["prepend"])?;
    let replaces_space =
        replace["pattern"]["String"] == " " && single_char(&replace["content"]) == Some(meta);
    (replaces_space && meta != ' ').then_some(meta)
}

/// The load-time condition of the module proof.
fn no_merge_crosses_a_cut(model: &ModelWrapper, meta: char) -> bool {
    let ModelWrapper::BPE(bpe) = model else {
        return false;
    };
    let plain = super::bpe_cuts::is_plain_bpe(bpe);
    if !plain || model.token_to_id(meta.encode_utf8(&mut [0; 4])).is_none() {
        return false;
    }
    // Every char must yield a symbol: a dropped char would make its neighbours adjacent.
    let bytes_cover_all = bpe.byte_fallback
        && (0..=255u8).all(|b| model.token_to_id(&format!("<0x{b:02X}>")).is_some());
    let unk_is_safe = bpe
        .unk_token
        .as_deref()
        .is_some_and(|unk| model.token_to_id(unk).is_some() && !unk.ends_with(meta));
    if !bytes_cover_all && !unk_is_safe {
        return false;
    }
    bpe.get_vocab().keys().all(|token| {
        let mut prev_is_meta = true;
        token.chars().all(|c| {
            let ok = c != meta || prev_is_meta;
            prev_is_meta = c == meta;
            ok
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(seg: &Metaspace, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = String::new();
        seg.for_each_piece(text, &mut buf, |p| {
            out.push(seg.normalize(p));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn legacy_pieces() {
        let seg = Metaspace {
            meta: '▁',
            prepend: Prepend::Always,
            cut_every_meta: false,
            cuts: None,
        };
        assert_eq!(pieces(&seg, "Hello world"), ["▁Hello", "▁world"]);
        assert_eq!(pieces(&seg, " a  b▁c  "), ["▁▁a", "▁▁b", "▁c", "▁▁"]);
        assert_eq!(pieces(&seg, "x"), ["▁x"]);
        assert_eq!(pieces(&seg, "\n\ta b"), ["▁\n\ta", "▁b"]);
    }

    #[test]
    fn metaspace_split_pieces() {
        let seg = Metaspace {
            meta: '▁',
            prepend: Prepend::IfMissing,
            cut_every_meta: true,
            cuts: None,
        };
        assert_eq!(pieces(&seg, "Hello world"), ["▁Hello", "▁world"]);
        assert_eq!(pieces(&seg, " a  b▁c  "), ["▁a", "▁", "▁b", "▁c", "▁", "▁"]);
        let never = Metaspace {
            prepend: Prepend::Never,
            cuts: None,
            ..seg
        };
        assert_eq!(pieces(&never, "ab c"), ["ab", "▁c"]);
    }

    #[test]
    fn legacy_normalizer_is_recognized() {
        let n = serde_json::json!({"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]});
        assert_eq!(legacy_meta(&n), Some('▁'));
        let other = serde_json::json!({"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": "\t"}, "content": "▁"}]});
        assert_eq!(legacy_meta(&other), None);
    }
}

//! Exact, fast tokenization: the ids of `tokenizer.encode(text, add_special_tokens=True)` of a
//! HF `tokenizer.json`, many times faster than the HF pipeline.
//!
//! # Design
//! HF runs, per text: added-token extraction, normalizer, pre-tokenizer, model (per word),
//! post-processor, carrying offset alignments through every step. Prose repeats the same few
//! thousand words, so we (1) cut the text ourselves into pieces whose concatenated model outputs
//! provably equal the model output of the whole text, and (2) cache piece -> ids in a per-thread
//! [`Encoder`]. Which cut is exact depends on the tokenizer; at load we recognize the
//! configuration (from the serialized normalizer, pre-tokenizer and model) and pick one of:
//! - `"byte_level"` ([`bytelevel`]): GPT-2 (and Llama-3/Qwen-2 `Split` + `ByteLevel`): pieces are
//!   the pre-tokenizer regex matches;
//! - `"metaspace"` ([`metaspace`]): `SentencePiece` BPE (Mistral, Llama-2), with a vocabulary proof
//!   that BPE merges cannot cross the cuts;
//! - `"whitespace"` ([`whitespace`]): BERT-like: cut at ASCII whitespace (and around ASCII
//!   punctuation for `BertPreTokenizer`), HF normalizer + pre-tokenizer + model per piece;
//! - `"hf"`: anything else (Unigram with a `Precompiled` normalizer, unusual normalizers, BPE
//!   dropout, a non-linear post-processor, ...): the HF pipeline for every text (still exact).
//!
//! In the fast paths a text still goes through HF whole when it is empty or may contain an added
//! token ([`added`]). The special tokens around the content come from the post-processor itself
//! ([`specials`]). Exactness is checked against `encode_reference` in `tests/tokenize_exact.rs`
//! (novel lines and chunks, random Unicode/whitespace mixes, long words, 1 MB texts).
//!
//! # Performance notes
//! Figures from `benches/tokenize_speed.rs` (one thread, release, ~5 MB of novels in 4 KB
//! documents, on a shared 2-core VM, so +-30% noise; "cold" is a fresh encoder over the 5 MB,
//! "warm" the same encoder again; ratios vs `encode_reference`, i.e. HF `encode`):
//!
//! | tokenizer | path | HF `encode` | fast cold | fast warm |
//! |---|---|---|---|---|
//! | gpt2 | `byte_level` | 1.6-2.3 MB/s | 27-44 MB/s (16-19x) | 80-124 MB/s (48-54x) |
//! | mistral-7b-v0.1 | metaspace | 2.7-3.4 MB/s | 22-33 MB/s (8-10x) | 78-81 MB/s (23-30x) |
//! | bert-base-uncased | whitespace | 1.9-2.0 MB/s | 44-53 MB/s (22-27x) | 72-103 MB/s (36-53x) |
//!
//! What was tried, in order (warm/cold effects measured with that bench):
//! - The cache ([`cache`]) is per encoder (one per thread): no locks, no atomics on the hot
//!   path. `Box<str>` keys -> inline keys: warm +40-70% (no pointer chase per hit).
//! - Splitting: a hand-written GPT-2 scanner instead of the `regex` crate (one search call per
//!   ~4-byte piece was several times slower); byte-wise scans for metaspace and whitespace
//!   (`str::split` with a char set decoded every char); raw slices as keys (no copy).
//! - Cold cache = misses: ~3 us per BPE call, ~6 us per HF normalizer + pre-tokenizer call on
//!   this machine. BERT: isolating ASCII punctuation and sending printable-ASCII pieces straight
//!   to the model took cold from 6x to 22-27x. Mistral: the vocabulary-proven sub-cuts of
//!   [`bpe_cuts`] took cold from 5.5x to ~10x; applied in the hot path they also cost ~30% of
//!   the warm speed, so they are applied on misses only.
//! - The HF fallback uses `encode_fast` (no offsets); `encode_reference` uses `encode`, the
//!   literal reference. Both give the same ids. `count` walks the same path, adding lengths.
//! - Not done: our own BPE/WordPiece (misses would be ~3x cheaper, but the model would no longer
//!   be HF's own code), a shared pre-warmed cache across threads.

mod added;
mod bpe_cuts;
mod bytelevel;
mod cache;
mod charclass;
mod metaspace;
mod specials;
mod whitespace;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;
use tokenizers::ModelWrapper;

use self::added::{AddedTokenGuard, NormalizedTokens};
use self::bytelevel::ByteLevel;
use self::cache::WordCache;
use self::metaspace::Metaspace;
use self::specials::Specials;
use self::whitespace::Whitespace;
use crate::error::{L2tError, Result};

/// Names of end-of-sequence tokens, in the order [`Tokenizer::eos_id`] tries them among the
/// special added tokens.
pub const EOS_NAMES: [&str; 9] = [
    "</s>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<eos>",
    "<|eos|>",
    "[SEP]",
];

/// A loaded tokenizer: the HF pipeline plus the proven fast path. `Send + Sync`; share it by
/// reference and create one [`Encoder`] per thread.
pub struct Tokenizer {
    hf: tokenizers::Tokenizer,
    fast: Option<Fast>,
    vocab_size: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    disabled: Vec<&'static str>,
}

/// Everything a fast path needs besides the HF tokenizer.
struct Fast {
    segmenter: Segmenter,
    guard: AddedTokenGuard,
    specials: Specials,
}

enum Segmenter {
    ByteLevel(ByteLevel),
    Metaspace(Metaspace),
    Whitespace(Whitespace),
}

impl Tokenizer {
    /// Loads a HF `tokenizer.json` (as a string). Padding and truncation are disabled (an example
    /// is encoded whole, then packed); [`Tokenizer::disabled`] says which of them the file had. A
    /// BPE model with dropout is refused: its ids are random draws, so no output built on them
    /// could be exact or reproducible.
    pub fn from_json(json: &str) -> Result<Self> {
        let mut hf = tokenizers::Tokenizer::from_str(json)
            .map_err(|e| L2tError::Tokenizer(format!("cannot parse tokenizer JSON: {e}")))?;
        if let tokenizers::ModelWrapper::BPE(bpe) = hf.get_model() {
            if let Some(p) = bpe.dropout.filter(|&p| p > 0.0) {
                return Err(L2tError::Config(format!(
                    "the tokenizer's BPE model has dropout {p}: its ids are random, so the \
                     output could be neither exact nor deterministic; set \"dropout\" to null \
                     in the model section of tokenizer.json"
                )));
            }
        }
        let mut disabled = Vec::new();
        if hf.get_padding().is_some() {
            disabled.push("padding");
        }
        if hf.get_truncation().is_some() {
            disabled.push("truncation");
        }
        hf.with_padding(None);
        hf.with_truncation(None)
            .map_err(|e| L2tError::Tokenizer(format!("cannot disable truncation: {e}")))?;

        let max_id = hf.get_vocab(true).values().copied().max();
        let vocab_size = hf
            .get_vocab_size(true)
            .max(max_id.map_or(0, |id| id as usize + 1));
        let added = hf.get_added_tokens_decoder();
        let eos = EOS_NAMES.iter().find_map(|name| {
            added
                .iter()
                .find(|(_, t)| t.special && t.content == *name)
                .map(|(&id, _)| id)
        });
        let specials = Specials::detect(&hf);
        let bos = specials.as_ref().and_then(|s| s.prefix.first().copied());
        let fast = specials.and_then(|specials| detect_fast(&hf, specials));
        Ok(Self {
            hf,
            fast,
            vocab_size,
            bos,
            eos,
            disabled,
        })
    }

    /// The settings of the tokenizer file that l2t turns off: `"padding"`, `"truncation"`.
    pub fn disabled(&self) -> &[&'static str] {
        &self.disabled
    }

    /// Loads a HF `tokenizer.json` file; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path).map_err(|e| {
            L2tError::Tokenizer(format!(
                "cannot read tokenizer file {}: {e}",
                path.display()
            ))
        })?;
        Self::from_json(&json).map_err(|e| match e {
            L2tError::Tokenizer(msg) => L2tError::Tokenizer(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Which exact fast path was proven for this tokenizer: "`byte_level`", "metaspace",
    /// "whitespace", or "hf" (the HF pipeline for every text).
    pub fn fast_path(&self) -> &'static str {
        match self.fast.as_ref().map(|f| &f.segmenter) {
            Some(Segmenter::ByteLevel(_)) => "byte_level",
            Some(Segmenter::Metaspace(_)) => "metaspace",
            Some(Segmenter::Whitespace(_)) => "whitespace",
            None => "hf",
        }
    }

    /// Number of ids, including added tokens (at least the largest id + 1).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The first special token the post-processor prepends to a sequence, if any.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence token: the first of [`EOS_NAMES`] that is a special added token.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// The id of a token (model vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.hf.token_to_id(token)
    }

    /// Exactly `encode(text, add_special_tokens=true).ids`: the slow reference (HF pipeline).
    pub fn encode_reference(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .hf
            .encode(text, true)
            .map_err(|e| L2tError::Tokenizer(format!("cannot encode text: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes ids to text, skipping special tokens. An id outside the vocabulary is an
    /// [`L2tError::Vocab`] error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        if let Some(&id) = ids
            .iter()
            .find(|&&id| id as usize >= self.vocab_size || self.hf.id_to_token(id).is_none())
        {
            return Err(L2tError::Vocab {
                id,
                vocab_size: self.vocab_size,
                doc: None,
            });
        }
        self.hf
            .decode(ids, true)
            .map_err(|e| L2tError::Tokenizer(format!("cannot decode ids: {e}")))
    }

    /// A per-thread encoder with its own piece cache.
    pub fn encoder(&self) -> Encoder<'_> {
        Encoder {
            tok: TokenizerRef::Borrowed(self),
            cache: WordCache::default(),
            buf: String::new(),
        }
    }

    /// A per-thread encoder that owns a share of the tokenizer, for pools of encoders stored
    /// next to the tokenizer (`Mutex<Vec<Encoder<'static>>>` beside an `Arc<Tokenizer>`).
    /// Same behaviour as [`Tokenizer::encoder`].
    pub fn shared_encoder(self: &Arc<Self>) -> Encoder<'static> {
        Encoder {
            tok: TokenizerRef::Shared(Arc::clone(self)),
            cache: WordCache::default(),
            buf: String::new(),
        }
    }

    /// The HF pipeline without offsets (same ids as `encode`).
    fn encode_hf(&self, text: &str) -> Result<tokenizers::Encoding> {
        self.hf
            .encode_fast(text, true)
            .map_err(|e| L2tError::Tokenizer(format!("cannot encode text: {e}")))
    }
}

/// Recognizes a fast path; `None` means the HF pipeline for every text.
fn detect_fast(hf: &tokenizers::Tokenizer, specials: Specials) -> Option<Fast> {
    let model = hf.get_model();
    if let ModelWrapper::BPE(bpe) = model {
        if bpe.dropout.is_some_and(|p| p > 0.0) {
            return None; // Random merges: nothing to cache.
        }
    }
    let normalizer = serde_json::to_value(hf.get_normalizer()).ok()?;
    let pre_tokenizer = serde_json::to_value(hf.get_pre_tokenizer()).ok()?;
    let (segmenter, normalized_tokens) =
        if let Some(seg) = ByteLevel::detect(&normalizer, &pre_tokenizer) {
            (Segmenter::ByteLevel(seg), NormalizedTokens::Content)
        } else if let Some(seg) = Metaspace::detect(&normalizer, &pre_tokenizer, model) {
            let normalized_tokens = if normalizer == Value::Null {
                NormalizedTokens::Content
            } else {
                NormalizedTokens::MetaFragments(seg.meta())
            };
            (Segmenter::Metaspace(seg), normalized_tokens)
        } else if let Some(seg) = Whitespace::detect(&normalizer, &pre_tokenizer) {
            let normalized_tokens = if normalizer == Value::Null {
                NormalizedTokens::Content
            } else {
                NormalizedTokens::Unsupported
            };
            (Segmenter::Whitespace(seg), normalized_tokens)
        } else {
            return None;
        };
    let added = hf.get_added_tokens_decoder();
    let guard = AddedTokenGuard::new(
        added.values().map(|t| (t.content.as_str(), t.normalized)),
        normalized_tokens,
    )?;
    Some(Fast {
        segmenter,
        guard,
        specials,
    })
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("fast_path", &self.fast_path())
            .field("vocab_size", &self.vocab_size)
            .field("bos_id", &self.bos)
            .field("eos_id", &self.eos)
            .finish_non_exhaustive()
    }
}

/// A per-thread encoder: the fast path of its [`Tokenizer`] plus a bounded piece cache (see
/// `cache.rs`: cleared past ~1M pieces or ~64 MiB). `Send`; create one per worker thread.
pub struct Encoder<'a> {
    tok: TokenizerRef<'a>,
    cache: WordCache,
    /// Reusable buffer for normalized pieces.
    buf: String,
}

/// How an [`Encoder`] holds its tokenizer.
enum TokenizerRef<'a> {
    Borrowed(&'a Tokenizer),
    Shared(Arc<Tokenizer>),
}

impl std::ops::Deref for TokenizerRef<'_> {
    type Target = Tokenizer;

    fn deref(&self) -> &Tokenizer {
        match self {
            Self::Borrowed(tok) => tok,
            Self::Shared(tok) => tok,
        }
    }
}

impl std::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("tokenizer", &*self.tok)
            .field("cached_pieces", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Encoder<'_> {
    /// Appends exactly the HF ids of `text` (with the post-processor's special tokens) to `out`.
    /// On error `out` is left as it was.
    pub fn encode_into(&mut self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let len = out.len();
        let result = self.run(text, |ids| {
            if let [id] = ids {
                out.push(*id); // Most pieces are one token: skip the memcpy call.
            } else {
                out.extend_from_slice(ids);
            }
        });
        if result.is_err() {
            out.truncate(len);
        }
        result
    }

    /// The HF ids of `text`, with the post-processor's special tokens.
    pub fn encode(&mut self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 4);
        self.encode_into(text, &mut out)?;
        Ok(out)
    }

    /// Number of ids [`Encoder::encode`] would return (no ids are materialized).
    pub fn count(&mut self, text: &str) -> Result<usize> {
        let mut n = 0;
        self.run(text, |ids| n += ids.len())?;
        Ok(n)
    }

    /// Feeds the ids of `text` to `emit`, in order.
    fn run(&mut self, text: &str, mut emit: impl FnMut(&[u32])) -> Result<()> {
        let Self { tok, cache, buf } = self;
        let tok: &Tokenizer = tok;
        let fast = tok
            .fast
            .as_ref()
            .filter(|fast| !text.is_empty() && !fast.guard.may_match(text));
        let Some(fast) = fast else {
            emit(tok.encode_hf(text)?.get_ids());
            return Ok(());
        };
        let model = tok.hf.get_model();
        emit(&fast.specials.prefix);
        match &fast.segmenter {
            Segmenter::ByteLevel(seg) => seg.for_each_piece(text, |piece| {
                emit(cache.get_or_compute(piece, |_, p| ByteLevel::tokenize_piece(model, p))?);
                Ok(())
            })?,
            Segmenter::Metaspace(seg) => seg.for_each_piece(text, buf, |piece| {
                emit(cache.get_or_compute(piece, |cache, p| seg.tokenize_piece(cache, model, p))?);
                Ok(())
            })?,
            Segmenter::Whitespace(seg) => seg.for_each_piece(text, |piece| {
                emit(cache.get_or_compute(piece, |_, p| seg.tokenize_piece(&tok.hf, p))?);
                Ok(())
            })?,
        }
        emit(&fast.specials.suffix);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn thread_safety_bounds() {
        assert_send_sync::<Tokenizer>();
        assert_send::<Encoder<'static>>();
        assert_send_sync::<Arc<Tokenizer>>();
    }

    #[test]
    fn bad_json_is_a_tokenizer_error() {
        let err = Tokenizer::from_json("{not json").err().unwrap();
        assert!(matches!(err, L2tError::Tokenizer(_)), "{err}");
        assert!(
            err.to_string().contains("cannot parse tokenizer JSON"),
            "{err}"
        );
    }
}

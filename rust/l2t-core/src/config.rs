//! Engine configuration: the two profiles and every switch that separates them.
//!
//! `paper` reproduces the reference's behaviour, quirks included; `default` keeps the same tasks
//! and rates and adds the fixes of TASKS.md decision 9. Every difference is a named field here, so
//! a user can take `default` and switch any single behaviour back (or the reverse). Overrides
//! arrive as a JSON object of field names; unknown names are refused, not ignored.

use serde::{Deserialize, Serialize};

use crate::error::{L2tError, Result};
use crate::tasks::Task;

/// The longest packed row (and example) l2t accepts: 2^20 tokens, far beyond any context length.
pub const MAX_SEQ_LEN: usize = 1 << 20;
/// The most examples packed together, or documents in one mixing block.
pub const MAX_WINDOW: usize = 1 << 22;
/// The most worker threads of one engine.
pub const MAX_THREADS: usize = 1024;

/// The named presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Paper,
    Default,
}

/// How packed rows are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Packing {
    /// The reference: each example goes to the least-filled pack (worst-fit decreasing).
    WorstFit,
    /// Each example goes to the fullest pack it fits in (best-fit decreasing): fewer pads.
    BestFit,
}

/// How raw (next-token) text is mixed with L2T examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mixing {
    /// A share `raw_ratio` of the documents becomes raw text; the rest becomes L2T examples.
    Disjoint,
    /// Every document is used twice: once as L2T examples and once as raw text.
    Shared,
}

/// What `raw_ratio` is a share of in `Disjoint` mixing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MixBy {
    /// The reference: each mixing block sends exactly `ceil(raw_ratio * block)` documents to raw
    /// text. L2T strings are about twice as long as their source, so the raw share of the output
    /// tokens ends up well below `raw_ratio`.
    #[default]
    Documents,
    /// Each mixing block splits its documents so that raw tokens make up about `raw_ratio` of the
    /// block's output tokens (raw tokens plus L2T example tokens). Every document's examples then
    /// use the previous document of the stream (whatever it became) as their previous document, so
    /// they do not depend on which other documents went raw.
    Tokens,
}

/// Everything the engine needs besides the tokenizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub profile: Profile,
    pub seed: u64,
    /// Length of packed rows.
    pub seq_len: usize,
    /// Examples with more ids than this are dropped, not truncated (capped at `seq_len`).
    pub max_length: usize,
    /// Minimum whitespace-separated words a chunk needs.
    pub min_words: usize,
    /// Token budget per chunk in loose chunking.
    pub chunk_tokens: usize,
    /// Stop-word list size: 179 (paper era) or 198.
    pub stopwords: usize,
    /// Relative weight of each task in the per-document choice (missing tasks weigh 0 when this is
    /// given; all tasks weigh 1 when it is `None`).
    pub task_weights: Option<std::collections::BTreeMap<String, f64>>,
    /// Append the tokenizer's EOS id after each example's ids.
    pub eos_per_example: bool,
    /// Record how many leading ids of each example are its prompt (prompt, blank line, anchor),
    /// so that training can leave prompts out of the loss. Costs one more encode per example.
    #[serde(default)]
    pub mask_prompts: bool,
    /// Pad id for packed rows; `None` means the tokenizer's EOS.
    pub pad_id: Option<u32>,
    pub packing: Packing,
    /// Examples considered together by the packer (the reference packs batches of 1000).
    pub pack_window: usize,
    pub mixing: Mixing,
    /// Share of raw text in `Disjoint` mixing, in [0, 1]: of the documents or of the output tokens
    /// as `mix_by` says. 0 makes everything L2T, 1 everything raw.
    pub raw_ratio: f64,
    /// Whether `raw_ratio` counts documents (the reference, and both presets) or output tokens.
    /// Switch to `tokens` to get the raw token share you ask for; `documents` keeps the reference's
    /// split and its previous-document links (the previous L2T document).
    #[serde(default)]
    pub mix_by: MixBy,
    /// Documents per mixing block: each block splits its documents between raw text and L2T on its
    /// own (by `mix_by`), and raw rows are cut per `mix_block` raw documents, the remainder dropped
    /// (the reference's map batches of 1000).
    pub mix_block: usize,
    /// Worker threads for one call; 1 keeps DataLoader workers from oversubscribing the machine.
    pub threads: usize,
}

impl EngineConfig {
    /// The preset for a profile.
    pub fn preset(profile: Profile) -> Self {
        let paper = profile == Profile::Paper;
        Self {
            profile,
            seed: 0,
            seq_len: 2048,
            max_length: 2048,
            min_words: 20,
            chunk_tokens: 512,
            stopwords: 179,
            task_weights: None,
            eos_per_example: !paper,
            pad_id: None,
            packing: if paper {
                Packing::WorstFit
            } else {
                Packing::BestFit
            },
            pack_window: if paper { 1000 } else { 8192 },
            mixing: Mixing::Disjoint,
            raw_ratio: 0.0,
            mix_by: MixBy::Documents,
            mask_prompts: false,
            mix_block: 1000,
            threads: 1,
        }
    }

    /// A preset with a JSON object of overrides applied (`{"seed": 3, "seq_len": 1024}`).
    pub fn with_overrides(profile: Profile, overrides: &str) -> Result<Self> {
        let mut value = serde_json::to_value(Self::preset(profile))
            .map_err(|e| L2tError::Config(e.to_string()))?;
        let patch: serde_json::Value = serde_json::from_str(overrides)
            .map_err(|e| L2tError::Config(format!("overrides are not valid JSON: {e}")))?;
        let serde_json::Value::Object(patch) = patch else {
            return Err(L2tError::Config("overrides must be a JSON object".into()));
        };
        let given: Vec<String> = patch.keys().cloned().collect();
        let patch_has = |key: &str| given.iter().any(|k| k == key);
        let target = value
            .as_object_mut()
            .ok_or_else(|| L2tError::Config("config is not an object".into()))?;
        for (key, v) in patch {
            if key == "profile" {
                return Err(L2tError::Config(
                    "the profile is chosen by name, not overridden".into(),
                ));
            }
            if !target.contains_key(&key) {
                let known: Vec<&String> = target.keys().collect();
                return Err(L2tError::Config(format!(
                    "unknown option {key:?}; known options: {known:?}"
                )));
            }
            target.insert(key, v);
        }
        // A row shorter than the preset's max_length would drop every longer example while the
        // configuration still said 2048: the limit follows seq_len unless it is set too.
        if patch_has("seq_len") && !patch_has("max_length") {
            let seq_len = target["seq_len"].clone();
            target.insert("max_length".into(), seq_len);
        }
        let config: Self = serde_json::from_value(value.clone()).map_err(|e| {
            // serde names the type it wanted, not the field: find the option that broke it.
            let culprit = given.iter().find(|key| {
                let mut one = serde_json::to_value(Self::preset(profile)).unwrap_or_default();
                one[key.as_str()] = value[key.as_str()].clone();
                serde_json::from_value::<Self>(one).is_err()
            });
            match culprit {
                Some(key) => L2tError::Config(format!(
                    "invalid value {} for {key}: {e}",
                    value[key.as_str()]
                )),
                None => L2tError::Config(format!("invalid option value: {e}")),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and names. Every size has an upper bound, so that a typo (`seq_len` of
    /// 2^40) is a clear error rather than an allocation that aborts the process.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("seq_len", self.seq_len, MAX_SEQ_LEN),
            ("max_length", self.max_length, MAX_SEQ_LEN),
            ("chunk_tokens", self.chunk_tokens, MAX_SEQ_LEN),
            ("pack_window", self.pack_window, MAX_WINDOW),
            ("mix_block", self.mix_block, MAX_WINDOW),
            ("threads", self.threads, MAX_THREADS),
        ];
        for (name, value, max) in sizes {
            if !(1..=max).contains(&value) {
                return Err(L2tError::Config(format!(
                    "{name} must be in [1, {max}], not {value}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.raw_ratio) {
            return Err(L2tError::Config(format!(
                "raw_ratio must be in [0, 1], not {}",
                self.raw_ratio
            )));
        }
        if self.stopwords != 179 && self.stopwords != 198 {
            return Err(L2tError::Config(format!(
                "stopwords must be 179 or 198, not {}",
                self.stopwords
            )));
        }
        self.weights().map(|_| ())
    }

    /// The per-task weights by task id.
    pub fn weights(&self) -> Result<[f64; 14]> {
        let Some(map) = &self.task_weights else {
            return Ok([1.0; 14]);
        };
        let mut w = [0.0; 14];
        for (name, &weight) in map {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(L2tError::Config(format!(
                    "task weight of {name:?} must be a finite number >= 0, not {weight}"
                )));
            }
            w[usize::from(Task::from_name(name)?.id())] = weight;
        }
        if w.iter().all(|&x| x == 0.0) {
            return Err(L2tError::Config(
                "task_weights gives every task weight 0".into(),
            ));
        }
        Ok(w)
    }

    /// The length limit actually applied to examples.
    pub fn example_limit(&self) -> usize {
        self.max_length.min(self.seq_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)] // weights are copied from JSON, not computed: exact
    fn overrides_apply_and_unknown_keys_are_refused() {
        let c = EngineConfig::with_overrides(Profile::Paper, r#"{"seed": 3, "seq_len": 1024}"#)
            .unwrap();
        assert_eq!((c.seed, c.seq_len, c.packing), (3, 1024, Packing::WorstFit));
        assert!(EngineConfig::with_overrides(Profile::Paper, r#"{"sede": 3}"#).is_err());
        assert!(EngineConfig::with_overrides(Profile::Paper, r#"{"raw_ratio": 2}"#).is_err());
        assert!(EngineConfig::with_overrides(Profile::Paper, "[]").is_err());
        let short = EngineConfig::with_overrides(Profile::Paper, r#"{"seq_len": 128}"#).unwrap();
        assert_eq!(short.max_length, 128);
        let both =
            EngineConfig::with_overrides(Profile::Paper, r#"{"seq_len": 128, "max_length": 64}"#)
                .unwrap();
        assert_eq!(both.max_length, 64);
        for bad in [
            r#"{"seq_len": 1099511627776}"#,
            r#"{"threads": 10000}"#,
            r#"{"seq_len": 0}"#,
            r#"{"mix_block": 0}"#,
        ] {
            let err = EngineConfig::with_overrides(Profile::Paper, bad).unwrap_err();
            assert!(err.to_string().contains("must be in [1, "), "{bad}: {err}");
        }
        let err = EngineConfig::with_overrides(Profile::Paper, r#"{"seed": 1, "threads": -1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid value -1 for threads"), "{err}");
        let w = EngineConfig::with_overrides(
            Profile::Default,
            r#"{"task_weights": {"mlm": 2, "half": 1}}"#,
        )
        .unwrap()
        .weights()
        .unwrap();
        assert_eq!(w[usize::from(Task::MaskedWord.id())], 2.0);
        assert_eq!(w[usize::from(Task::Shuffle.id())], 0.0);
        assert!(
            EngineConfig::with_overrides(Profile::Default, r#"{"task_weights": {"x": 1}}"#)
                .is_err()
        );
    }
}

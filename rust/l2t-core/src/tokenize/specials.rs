//! The special tokens the post-processor puts around a single sequence, found by asking it.
//!
//! Rather than reading `TemplateProcessing`, `BertProcessing`, `RobertaProcessing`, `Sequence`,
//! ... configurations, we run the tokenizer's own `post_process` (with `add_special_tokens`) on
//! encodings made of sentinel ids that no vocabulary uses, and read what it put around them. The
//! fast paths then emit `prefix + ids + suffix`. This is only accepted if the post-processor is
//! *linear*: the same prefix and suffix around 0, 1 and 2 tokens, content untouched (truncation
//! and padding are disabled at load, so nothing else depends on the length). Otherwise the
//! tokenizer takes the HF path.

use tokenizers::{Encoding, Token};

/// Sentinel ids (far above any real vocabulary).
const SENTINELS: [u32; 2] = [u32::MAX - 17, u32::MAX - 5];

/// What the post-processor adds around one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Specials {
    pub(crate) prefix: Vec<u32>,
    pub(crate) suffix: Vec<u32>,
}

impl Specials {
    /// Probes the post-processor; `None` when it is not linear (or fails).
    pub(crate) fn detect(hf: &tokenizers::Tokenizer) -> Option<Self> {
        let process = |ids: &[u32]| -> Option<Vec<u32>> {
            let tokens = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| Token::new(id, "a".to_owned(), (i, i + 1)))
                .collect();
            let encoding = hf
                .post_process(Encoding::from_tokens(tokens, 0), None, true)
                .ok()?;
            Some(encoding.get_ids().to_vec())
        };
        let two = process(&SENTINELS)?;
        let at = two.windows(2).position(|w| w == SENTINELS)?;
        let specials = Self {
            prefix: two[..at].to_vec(),
            suffix: two[at + 2..].to_vec(),
        };
        let linear = [&SENTINELS[..], &SENTINELS[..1], &[]]
            .into_iter()
            .all(|content| process(content).as_deref() == Some(&specials.around(content)[..]));
        linear.then_some(specials)
    }

    fn around(&self, content: &[u32]) -> Vec<u32> {
        [&self.prefix[..], content, &self.suffix[..]].concat()
    }
}

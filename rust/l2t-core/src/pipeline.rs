//! The engine: documents in, examples or packed rows out, in parallel and deterministically.
//!
//! Work is split in two passes over a call's documents. The first pass (parallel) splits each
//! document into sentences and counts its tokens; the second (parallel) chooses the task, cuts the
//! chunks, applies the task, joins prompt and completion and encodes the result. Only the second
//! pass needs the *previous* document, and it needs only its sentence list, which the first pass
//! has already produced: documents never wait on each other.
//!
//! Every random draw comes from a stream keyed by (seed, global document index, purpose) (see
//! [`crate::rng`]), and results are collected in input order, so the output is byte-identical for
//! any thread count. Encoders (each with its own word cache) live in a pool owned by the engine:
//! a call takes one per parallel slot, uses it across its passes and gives it back, so caches stay
//! warm across calls, which matters when a data loader calls with small buffers.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::config::{EngineConfig, Mixing, Profile};
use crate::controller;
use crate::error::{L2tError, Result};
use crate::format;
use crate::pack;
use crate::rng::{Purpose, Rng};
use crate::stats::Stats;
use crate::tasks::{self, wordlists::StopWords, Chunk, Task, TaskContext, RAW_TASK_ID};
use crate::text::sentences::split_sentences;
use crate::tokenize::{Encoder, Tokenizer};

/// One input document.
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    pub text: &'a str,
    /// The document's token count for chunk budgets when the corpus provides one
    /// (FineWeb's `metadata.token_count`); otherwise the engine counts with its tokenizer.
    pub token_count: Option<usize>,
}

impl<'a> Document<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            token_count: None,
        }
    }
}

/// Where a call sits in a longer stream of documents, so that streaming callers get the same
/// output as one call over everything.
#[derive(Clone, Debug, Default)]
pub struct StreamPosition {
    /// Global index of the call's first document (keys every random stream).
    pub first_doc: u64,
    /// The sentences of the document before the call's first one, if any.
    pub previous: Option<Vec<String>>,
    /// Index of this call's output batch (keys packing and row order).
    pub batch: u64,
}

/// One training example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Global index of the source document.
    pub doc: u64,
    pub task: Task,
    pub prompt: String,
    pub completion: String,
    /// The formatted training string.
    pub text: String,
    /// Exactly the tokenizer's ids of `text` (plus EOS when the profile appends it).
    pub ids: Vec<u32>,
}

/// Packed rows with their segments (struct of arrays, ready for Arrow/numpy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    pub seq_len: usize,
    /// `rows * seq_len` ids, row-major; each row's tail after its segments is padding.
    pub input_ids: Vec<u32>,
    /// Row `r`'s segments are `row_offsets[r]..row_offsets[r + 1]` of the segment arrays.
    pub row_offsets: Vec<u64>,
    pub segment_lengths: Vec<u32>,
    /// Task id of each segment ([`RAW_TASK_ID`] for raw text).
    pub segment_tasks: Vec<u8>,
    /// Global index of each segment's source document.
    pub segment_docs: Vec<u64>,
}

impl Packed {
    pub fn rows(&self) -> usize {
        self.row_offsets.len().saturating_sub(1)
    }

    fn push_row(&mut self, ids: &[u32], segments: &[(u32, u8, u64)], pad: u32) {
        self.input_ids.extend_from_slice(ids);
        self.input_ids
            .extend(std::iter::repeat_n(pad, self.seq_len - ids.len()));
        for &(len, task, doc) in segments {
            self.segment_lengths.push(len);
            self.segment_tasks.push(task);
            self.segment_docs.push(doc);
        }
        self.row_offsets.push(self.segment_lengths.len() as u64);
    }
}

/// A document after the first pass.
struct Analysed {
    sentences: Vec<String>,
    tokens: usize,
}

/// A row before the final shuffle: ids and (length, task, doc) segments.
type Row = (Vec<u32>, Vec<(u32, u8, u64)>);

/// The L2T engine: a tokenizer, a configuration, and the word lists.
pub struct Engine {
    config: EngineConfig,
    tokenizer: Arc<Tokenizer>,
    weights: [f64; 14],
    stopwords: StopWords,
    random_words: Vec<&'static str>,
    eos: Option<u32>,
    pad: u32,
    /// Ids the post-processor adds around every text (BOS, CLS/SEP, ...).
    special_count: usize,
    pool: Option<rayon::ThreadPool>,
    /// Warm encoders between calls.
    idle_encoders: Mutex<Vec<Encoder<'static>>>,
}

impl Engine {
    pub fn new(tokenizer: Tokenizer, config: EngineConfig) -> Result<Self> {
        config.validate()?;
        let eos = tokenizer.eos_id();
        if config.eos_per_example && eos.is_none() {
            return Err(L2tError::Config(
                "eos_per_example needs an EOS token, and the tokenizer has none that l2t \
                 recognises; set eos_per_example=false"
                    .into(),
            ));
        }
        let pad = config.pad_id.or(eos).unwrap_or(0);
        if pad as usize >= tokenizer.vocab_size() {
            return Err(L2tError::Config(format!(
                "pad_id {pad} is outside the vocabulary (size {})",
                tokenizer.vocab_size()
            )));
        }
        let special_count = tokenizer.encoder().count("")?;
        let pool = if config.threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads)
                    .build()
                    .map_err(|e| L2tError::Config(format!("cannot start threads: {e}")))?,
            )
        } else {
            None
        };
        Ok(Self {
            weights: config.weights()?,
            stopwords: StopWords::nltk(config.stopwords)?,
            random_words: tasks::wordlists::random_words(),
            eos,
            pad,
            special_count,
            pool,
            idle_encoders: Mutex::new(Vec::new()),
            tokenizer: Arc::new(tokenizer),
            config,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// Examples for `docs`; `forced` bypasses the task choice (single-task ablations).
    pub fn examples(
        &self,
        docs: &[Document<'_>],
        forced: Option<Task>,
        position: &StreamPosition,
    ) -> Result<(Vec<Example>, Stats)> {
        let indexed: Vec<_> = with_global_indices(docs, position.first_doc).collect();
        self.examples_of(&indexed, forced, position.previous.as_deref())
    }

    /// Packed rows for `docs`: L2T examples mixed with raw text as configured.
    pub fn generate(
        &self,
        docs: &[Document<'_>],
        position: &StreamPosition,
    ) -> Result<(Packed, Stats)> {
        let (l2t_docs, raw_docs) = self.split_for_mixing(docs, position.first_doc);
        let (examples, mut stats) =
            self.examples_of(&l2t_docs, None, position.previous.as_deref())?;
        let mut rows = self.pack_examples(&examples, position.batch);
        rows.extend(self.raw_rows(&raw_docs, &mut stats)?);
        Rng::new(self.config.seed, position.batch, Purpose::RowOrder).shuffle(&mut rows);
        let mut packed = Packed {
            seq_len: self.config.seq_len,
            row_offsets: vec![0],
            ..Packed::default()
        };
        for (ids, segments) in &rows {
            stats.pad_tokens += (self.config.seq_len - ids.len()) as u64;
            packed.push_row(ids, segments, self.pad);
        }
        stats.rows = rows.len() as u64;
        Ok((packed, stats))
    }

    /// Splits a call's documents into the L2T stream and the raw stream (with global indices).
    #[allow(clippy::type_complexity)]
    fn split_for_mixing<'d>(
        &self,
        docs: &[Document<'d>],
        first_doc: u64,
    ) -> (Vec<(u64, Document<'d>)>, Vec<(u64, Document<'d>)>) {
        let indexed = with_global_indices(docs, first_doc);
        match self.config.mixing {
            Mixing::Shared => (indexed.clone().collect(), indexed.collect()),
            Mixing::Disjoint if self.config.raw_ratio == 0.0 => (indexed.collect(), Vec::new()),
            Mixing::Disjoint => {
                let mut is_raw = vec![false; docs.len()];
                let block = self.config.mix_block;
                for start in (0..docs.len()).step_by(block) {
                    let len = block.min(docs.len() - start);
                    let n_raw = (self.config.raw_ratio * len as f64).ceil() as usize;
                    let mut rng = Rng::new(
                        self.config.seed,
                        first_doc + start as u64,
                        Purpose::MixSplit,
                    );
                    for i in rng.sample(len, n_raw) {
                        is_raw[start + i] = true;
                    }
                }
                let (raw, l2t): (Vec<_>, Vec<_>) =
                    indexed.partition(|(g, _)| is_raw[(g - first_doc) as usize]);
                (l2t, raw)
            }
        }
    }

    fn examples_of(
        &self,
        docs: &[(u64, Document<'_>)],
        forced: Option<Task>,
        previous: Option<&[String]>,
    ) -> Result<(Vec<Example>, Stats)> {
        self.with_encoders(|encoders| self.examples_with(encoders, docs, forced, previous))
    }

    fn examples_with(
        &self,
        encoders: &mut [Encoder<'static>],
        docs: &[(u64, Document<'_>)],
        forced: Option<Task>,
        previous: Option<&[String]>,
    ) -> Result<(Vec<Example>, Stats)> {
        let analysed = self.par_map(encoders, docs, |enc, &(g, doc)| {
            let sentences = split_sentences(doc.text);
            let tokens = match doc.token_count {
                Some(n) => n,
                None => enc
                    .count(doc.text)
                    .map_err(|e| at_document(e, g))?
                    .saturating_sub(self.special_count),
            };
            Ok(Analysed { sentences, tokens })
        })?;
        let indices: Vec<usize> = (0..docs.len()).collect();
        let per_doc = self.par_map(encoders, &indices, |enc, &i| {
            let prev = if i == 0 {
                previous
            } else {
                Some(analysed[i - 1].sentences.as_slice())
            };
            self.document_examples(docs[i].0, &analysed[i], prev, forced, enc)
        })?;
        let mut stats = Stats::default();
        let mut examples = Vec::new();
        for (ex, st) in per_doc {
            examples.extend(ex);
            stats.merge(&st);
        }
        Ok((examples, stats))
    }

    fn document_examples(
        &self,
        doc: u64,
        analysed: &Analysed,
        previous: Option<&[String]>,
        forced: Option<Task>,
        enc: &mut Encoder<'_>,
    ) -> Result<(Vec<Example>, Stats)> {
        let mut stats = Stats {
            documents: 1,
            ..Stats::default()
        };
        let sentences = &analysed.sentences;
        if sentences.is_empty() {
            stats.empty_documents = 1;
            return Ok((Vec::new(), stats));
        }
        // A previous document without sentences offers nothing to draw from.
        let previous = previous.filter(|p| !p.is_empty());
        let (task, previous) = if let Some(t) = forced {
            // Forced tasks fall back to the document itself for the foreign sentence.
            (t, previous.or(Some(sentences.as_slice())))
        } else {
            let candidates = controller::candidates(sentences.len(), previous.is_some());
            let mut rng = Rng::new(self.config.seed, doc, Purpose::TaskChoice);
            let Some(t) = controller::choose_task(&candidates, &self.weights, &mut rng) else {
                stats.documents_without_task = 1;
                return Ok((Vec::new(), stats));
            };
            (t, previous)
        };
        stats.task_mut(task).documents = 1;
        let ctx = TaskContext {
            min_words: self.config.min_words,
            previous,
            stopwords: &self.stopwords,
            random_words: &self.random_words,
        };
        let chunks: Vec<Chunk> =
            controller::chunk(task, sentences, analysed.tokens, self.config.chunk_tokens);
        let mut transform = Rng::new(self.config.seed, doc, Purpose::Transform);
        let mut anchors = Rng::new(self.config.seed, doc, Purpose::Anchor);
        let limit = self.config.example_limit();
        let mut examples = Vec::new();
        for chunk in &chunks {
            let Some(pc) = tasks::apply(task, chunk, &ctx, &mut transform) else {
                stats.task_mut(task).chunks_filtered += 1;
                continue;
            };
            let text = format::join(&pc.prompt, &pc.completion, &mut anchors);
            let mut ids = enc.encode(&text).map_err(|e| at_document(e, doc))?;
            if self.config.eos_per_example {
                ids.extend(self.eos);
            }
            if ids.len() > limit {
                stats.task_mut(task).too_long += 1;
                continue;
            }
            let s = stats.task_mut(task);
            s.examples += 1;
            s.tokens += ids.len() as u64;
            examples.push(Example {
                doc,
                task,
                prompt: pc.prompt,
                completion: pc.completion,
                text,
                ids,
            });
        }
        Ok((examples, stats))
    }

    /// Packs examples window by window and shuffles each window's packs.
    fn pack_examples(&self, examples: &[Example], batch: u64) -> Vec<Row> {
        let mut rows = Vec::new();
        for (w, window) in examples.chunks(self.config.pack_window).enumerate() {
            let lengths: Vec<usize> = window.iter().map(|e| e.ids.len()).collect();
            let mut packs = pack::pack(&lengths, self.config.seq_len, self.config.packing);
            let unit = (batch << 24) | w as u64;
            Rng::new(self.config.seed, unit, Purpose::PackOrder).shuffle(&mut packs);
            for members in packs {
                let mut ids = Vec::with_capacity(self.config.seq_len);
                let mut segments = Vec::with_capacity(members.len());
                for &m in &members {
                    let e = &window[m];
                    ids.extend_from_slice(&e.ids);
                    segments.push((e.ids.len() as u32, e.task.id(), e.doc));
                }
                rows.push((ids, segments));
            }
        }
        rows
    }

    /// Raw next-token rows: per block of `mix_block` raw documents, the documents' ids are
    /// concatenated and cut into full rows; the block's remainder is dropped (and counted).
    fn raw_rows(&self, docs: &[(u64, Document<'_>)], stats: &mut Stats) -> Result<Vec<Row>> {
        let encoded = self.with_encoders(|encoders| {
            self.par_map(encoders, docs, |enc, &(g, doc)| {
                let mut ids = enc.encode(doc.text).map_err(|e| at_document(e, g))?;
                if self.config.eos_per_example {
                    ids.extend(self.eos);
                }
                Ok((g, ids))
            })
        })?;
        let seq = self.config.seq_len;
        let mut rows = Vec::new();
        for block in encoded.chunks(self.config.mix_block) {
            let total: usize = block.iter().map(|(_, ids)| ids.len()).sum();
            stats.raw_documents += block.len() as u64;
            stats.raw_tokens += total as u64;
            stats.raw_tokens_dropped += (total % seq) as u64;
            let mut row: Row = (Vec::with_capacity(seq), Vec::new());
            for (g, ids) in block {
                let mut rest = ids.as_slice();
                while !rest.is_empty() {
                    let take = rest.len().min(seq - row.0.len());
                    row.0.extend_from_slice(&rest[..take]);
                    row.1.push((take as u32, RAW_TASK_ID, *g));
                    rest = &rest[take..];
                    if row.0.len() == seq {
                        rows.push(std::mem::replace(
                            &mut row,
                            (Vec::with_capacity(seq), Vec::new()),
                        ));
                    }
                }
            }
        }
        Ok(rows)
    }

    /// Runs `f` with one encoder per thread, warm ones from the pool first, and gives them back
    /// to the pool afterwards, whether `f` succeeded or not. One contiguous part per thread
    /// (rather than many small parts) keeps the number of caches to warm up at the thread count.
    fn with_encoders<R>(&self, f: impl FnOnce(&mut [Encoder<'static>]) -> R) -> R {
        let mut encoders = self.take_encoders();
        let out = f(&mut encoders);
        if let Ok(mut idle) = self.idle_encoders.lock() {
            idle.extend(encoders);
        }
        out
    }

    fn take_encoders(&self) -> Vec<Encoder<'static>> {
        let slots = if self.pool.is_some() {
            self.config.threads
        } else {
            1
        };
        let mut out: Vec<Encoder<'static>> = match self.idle_encoders.lock() {
            Ok(mut idle) => {
                let keep = idle.len().saturating_sub(slots);
                idle.split_off(keep)
            }
            Err(_) => Vec::new(),
        };
        while out.len() < slots {
            out.push(self.tokenizer.shared_encoder());
        }
        out
    }

    /// Maps `f` over `items` in order, in parallel when configured: the items are cut into one
    /// contiguous part per encoder, so each part runs with its own warm cache.
    fn par_map<'t, T: Sync, R: Send>(
        &self,
        encoders: &mut [Encoder<'t>],
        items: &[T],
        f: impl Fn(&mut Encoder<'t>, &T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let run = |enc: &mut Encoder<'t>, part: &[T]| -> Result<Vec<R>> {
            part.iter().map(|item| f(enc, item)).collect()
        };
        match (&self.pool, encoders) {
            (Some(pool), encoders) if encoders.len() > 1 => {
                let size = items.len().div_ceil(encoders.len()).max(1);
                let parts: Vec<Result<Vec<R>>> = pool.install(|| {
                    items
                        .par_chunks(size)
                        .zip(encoders.par_iter_mut())
                        .map(|(part, enc)| run(enc, part))
                        .collect()
                });
                let mut out = Vec::with_capacity(items.len());
                for part in parts {
                    out.extend(part?);
                }
                Ok(out)
            }
            (_, [enc, ..]) => run(enc, items),
            (_, []) => Err(L2tError::Config("no encoder available".into())),
        }
    }

    /// Whether this engine reproduces the reference (`paper`) or uses l2t's defaults.
    pub fn profile(&self) -> Profile {
        self.config.profile
    }
}

/// The documents of a call paired with their indices in the whole input stream.
fn with_global_indices<'a, 'd>(
    docs: &'a [Document<'d>],
    first_doc: u64,
) -> impl Iterator<Item = (u64, Document<'d>)> + Clone + 'a {
    docs.iter()
        .enumerate()
        .map(move |(i, d)| (first_doc + i as u64, *d))
}

/// Names the document in an error that lacks a location.
fn at_document(err: L2tError, doc: u64) -> L2tError {
    match err {
        L2tError::Tokenizer(m) => L2tError::Input {
            message: format!("cannot tokenize: {m}"),
            doc: Some(doc as usize),
        },
        L2tError::Vocab {
            id,
            vocab_size,
            doc: None,
        } => L2tError::Vocab {
            id,
            vocab_size,
            doc: Some(doc as usize),
        },
        L2tError::Input { message, doc: None } => L2tError::Input {
            message,
            doc: Some(doc as usize),
        },
        other => other,
    }
}

//! The engine: documents in, examples or packed rows out, in parallel and deterministically.
//!
//! Work is split in two passes over a call's documents. The first pass (parallel) splits each
//! document into sentences and counts its tokens; the second (parallel) chooses the task, cuts the
//! chunks, applies the task, joins prompt and completion and encodes the result. Only the second
//! pass needs the *previous* document, and it needs only its sentence list, which the first pass
//! has already produced: documents never wait on each other. Mixing by tokens runs the second
//! pass in a few rounds, each over the documents that the split, corrected with what the previous
//! rounds made, newly sends to L2T.
//!
//! Every random draw comes from a stream keyed by (seed, global document index, purpose) (see
//! [`crate::rng`]), and results are collected in input order, so the output is byte-identical for
//! any thread count. Encoders (each with its own word cache) live in a pool owned by the engine:
//! a call takes one per parallel slot, uses it across its passes and gives it back, so caches stay
//! warm across calls, which matters when a data loader calls with small buffers.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::config::{EngineConfig, MixBy, Mixing, Profile};
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
    /// How many leading ids are the prompt (with its blank line and anchor): the longest prefix
    /// of `ids` that the prompt part of `text` encodes to alone. 0 unless `mask_prompts` is set.
    pub prompt_len: u32,
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
    /// Prompt ids at the start of each segment (0 for raw text, and unless `mask_prompts`).
    pub segment_prompt_lengths: Vec<u32>,
}

impl Packed {
    pub fn rows(&self) -> usize {
        self.row_offsets.len().saturating_sub(1)
    }

    fn push_row(&mut self, ids: &[u32], segments: &[Segment], pad: u32) {
        self.input_ids.extend_from_slice(ids);
        self.input_ids
            .extend(std::iter::repeat_n(pad, self.seq_len - ids.len()));
        for s in segments {
            self.segment_lengths.push(s.len);
            self.segment_tasks.push(s.task);
            self.segment_docs.push(s.doc);
            self.segment_prompt_lengths.push(s.prompt_len);
        }
        self.row_offsets.push(self.segment_lengths.len() as u64);
    }
}

/// A document after the first pass.
struct Analysed {
    sentences: Vec<String>,
    tokens: usize,
}

/// One example or raw piece in a row.
#[derive(Clone, Copy, Debug)]
struct Segment {
    len: u32,
    task: u8,
    doc: u64,
    prompt_len: u32,
}

/// A row before the final shuffle: ids and segments.
type Row = (Vec<u32>, Vec<Segment>);

/// A call's documents after mixing: the examples of the L2T documents (in document order), the
/// raw documents with their global indices, and the counters of the L2T side.
struct Mixed<'d> {
    examples: Vec<Example>,
    raw: Vec<(u64, Document<'d>)>,
    stats: Stats,
}

/// One mixing block in token mode: its documents (call indices) in their seeded order, of which
/// the first `l2t` are L2T and the first `generated` have their examples made.
struct Block {
    order: Vec<usize>,
    l2t: usize,
    generated: usize,
}

impl Block {
    /// The L2T count that best meets `ratio` given what is known: the actual example tokens of
    /// the generated documents, and for the others their raw length times the expansion measured
    /// on the generated ones. The measure starts from [`GUESSED_EXPANSION`] weighted as one
    /// average document of the block, so that a few generated documents that happen to make
    /// nothing (the word filter empties short ones) do not predict that no document makes anything.
    fn split(
        &self,
        raw_len: &[usize],
        per_doc: &[Option<(Vec<Example>, Stats)>],
        ratio: f64,
    ) -> usize {
        let raw: Vec<usize> = self.order.iter().map(|&i| raw_len[i]).collect();
        let known: Vec<u64> = self.order[..self.generated]
            .iter()
            .map(|&i| per_doc[i].as_ref().map_or(0, |(ex, _)| example_tokens(ex)))
            .collect();
        let prior = raw.iter().sum::<usize>() as f64 / raw.len().max(1) as f64;
        let source = raw[..self.generated].iter().sum::<usize>() as f64 + prior;
        let made = known.iter().sum::<u64>() as f64 + GUESSED_EXPANSION * prior;
        let expansion = if source > 0.0 {
            made / source
        } else {
            GUESSED_EXPANSION
        };
        l2t_count(&raw, &known, expansion, ratio)
    }
}

/// The first guess of L2T tokens per source token: prompt and completion both carry the text.
const GUESSED_EXPANSION: f64 = 2.0;

/// Most rounds of (choose the split, generate the documents it adds) in token mixing. The first
/// round guesses; each later one corrects with the examples made so far, and the loop stops once
/// a split adds no document. Measured on 400 documents of 30 to 9,500 characters (short ones
/// emptied by the word filter beside long ones), blocks of 100, ratios 0.1 to 0.9: one correction
/// left blocks up to 0.10 off the ratio (0.06 over the call); splits settled after 1 to 5
/// corrections, to within 0.05 per block (one long document's worth) and 0.015 over the call, with
/// at most 7 of 300 generated documents dropped. Each round only generates what it adds.
const MIX_ROUNDS: usize = 8;

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
        let Mixed {
            examples,
            raw,
            mut stats,
        } = self.mix(docs, position)?;
        let mut rows = self.pack_examples(&examples, position.batch);
        rows.extend(self.raw_rows(&raw, &mut stats)?);
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

    /// What [`Engine::generate`] makes of `docs` before packing: the examples of the documents it
    /// uses as L2T (in document order), the global indices of those it uses as raw text, and the
    /// counters, raw ones included as `generate` counts them (`rows` and `pad_tokens` stay 0).
    /// For inspection and SFT-style output.
    pub fn mixed_examples(
        &self,
        docs: &[Document<'_>],
        position: &StreamPosition,
    ) -> Result<(Vec<Example>, Vec<u64>, Stats)> {
        let Mixed {
            examples,
            raw,
            mut stats,
        } = self.mix(docs, position)?;
        // Counting gives the lengths `raw_rows` would encode, without materialising the ids.
        let lengths = self.with_encoders(|encoders| {
            self.par_map(encoders, &raw, |enc, &(g, doc)| self.raw_len(enc, g, doc))
        })?;
        self.count_raw(&lengths, &mut stats);
        Ok((examples, raw.iter().map(|&(g, _)| g).collect(), stats))
    }

    /// Splits a call's documents into L2T examples and raw documents, as `mixing` and `mix_by` say.
    fn mix<'d>(&self, docs: &[Document<'d>], position: &StreamPosition) -> Result<Mixed<'d>> {
        let ratio = self.config.raw_ratio;
        // At 0 and 1 both splits agree (everything L2T, everything raw), and so do the previous
        // links (all documents are L2T, or none is), so the documents path serves both.
        if self.config.mixing == Mixing::Disjoint
            && self.config.mix_by == MixBy::Tokens
            && 0.0 < ratio
            && ratio < 1.0
        {
            return self.mix_by_tokens(docs, position);
        }
        let (l2t, raw) = self.split_for_mixing(docs, position.first_doc);
        let (examples, stats) = self.examples_of(&l2t, None, position.previous.as_deref())?;
        Ok(Mixed {
            examples,
            raw,
            stats,
        })
    }

    /// Disjoint mixing by tokens. Per block, a seeded order of its documents; the first `l2t` of
    /// the order become L2T and the rest raw, with `l2t` chosen so that the raw share of the
    /// block's output tokens comes closest to `raw_ratio`. The count is first guessed from an
    /// expansion of [`GUESSED_EXPANSION`], then corrected with the examples made so far, for up
    /// to [`MIX_ROUNDS`] rounds (each round generates the documents it adds, all blocks together,
    /// in parallel). A split that shrinks drops the examples of the documents it no longer needs
    /// (they go raw). This works because every document's previous document is its predecessor
    /// in the stream, so its examples do not depend on which other documents are L2T.
    fn mix_by_tokens<'d>(
        &self,
        docs: &[Document<'d>],
        position: &StreamPosition,
    ) -> Result<Mixed<'d>> {
        let first = position.first_doc;
        let indexed: Vec<(u64, Document<'d>)> = with_global_indices(docs, first).collect();
        let ratio = self.config.raw_ratio;
        let eos = usize::from(self.config.eos_per_example);
        self.with_encoders(|encoders| {
            let first_pass = self.par_map(encoders, &indexed, |enc, &(g, doc)| {
                let count = enc.count(doc.text).map_err(|e| at_document(e, g))?;
                Ok((self.analyse(enc, g, doc, Some(count))?, count + eos))
            })?;
            let (analysed, raw_len): (Vec<Analysed>, Vec<usize>) = first_pass.into_iter().unzip();
            let generate = |encoders: &mut [Encoder<'static>], which: &[usize]| {
                self.par_map(encoders, which, |enc, &i| {
                    let previous = match i {
                        0 => position.previous.as_deref(),
                        _ => Some(analysed[i - 1].sentences.as_slice()),
                    };
                    self.document_examples(first + i as u64, &analysed[i], previous, None, enc)
                })
            };
            let mut per_doc: Vec<Option<(Vec<Example>, Stats)>> = vec![None; docs.len()];
            let store = |per_doc: &mut [Option<_>], which: &[usize], made: Vec<_>| {
                for (&i, m) in which.iter().zip(made) {
                    per_doc[i] = Some(m);
                }
            };

            let mut blocks: Vec<Block> = (0..docs.len())
                .step_by(self.config.mix_block)
                .map(|start| {
                    let end = docs.len().min(start + self.config.mix_block);
                    let mut order: Vec<usize> = (start..end).collect();
                    Rng::new(self.config.seed, first + start as u64, Purpose::MixSplit)
                        .shuffle(&mut order);
                    Block {
                        order,
                        l2t: 0,
                        generated: 0,
                    }
                })
                .collect();
            for _ in 0..MIX_ROUNDS {
                let mut todo = Vec::new();
                for block in &mut blocks {
                    block.l2t = block.split(&raw_len, &per_doc, ratio);
                    if block.l2t > block.generated {
                        todo.extend_from_slice(&block.order[block.generated..block.l2t]);
                        block.generated = block.l2t;
                    }
                }
                if todo.is_empty() {
                    break;
                }
                // All blocks' new documents together, so that the threads share the work.
                todo.sort_unstable();
                let made = generate(encoders, &todo)?;
                store(&mut per_doc, &todo, made);
            }
            for block in &blocks {
                for &i in &block.order[block.l2t..block.generated] {
                    per_doc[i] = None; // generated, then found to overshoot: raw after all
                }
            }

            let mut mixed = Mixed {
                examples: Vec::new(),
                raw: Vec::new(),
                stats: Stats::default(),
            };
            for (doc, made) in indexed.iter().zip(per_doc) {
                match made {
                    Some((examples, stats)) => {
                        mixed.examples.extend(examples);
                        mixed.stats.merge(&stats);
                    }
                    None => mixed.raw.push(*doc),
                }
            }
            Ok(mixed)
        })
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
            self.analyse(enc, g, doc, None)
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

    /// The first pass over one document; `counted` is its encoded length when the caller has it.
    fn analyse(
        &self,
        enc: &mut Encoder<'_>,
        g: u64,
        doc: Document<'_>,
        counted: Option<usize>,
    ) -> Result<Analysed> {
        let tokens = match (doc.token_count, counted) {
            (Some(n), _) => n,
            (None, Some(n)) => n.saturating_sub(self.special_count),
            (None, None) => enc
                .count(doc.text)
                .map_err(|e| at_document(e, g))?
                .saturating_sub(self.special_count),
        };
        Ok(Analysed {
            sentences: split_sentences(doc.text),
            tokens,
        })
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
            let prompt_len = if self.config.mask_prompts {
                let prompt = &text[..text.len() - pc.completion.len()];
                let alone = enc.encode(prompt).map_err(|e| at_document(e, doc))?;
                // Tokens can straddle the join, and a post-processor may close the prompt
                // with its own specials: only the ids both encodings share are the prompt's.
                alone.iter().zip(&ids).take_while(|(a, b)| a == b).count() as u32
            } else {
                0
            };
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
                prompt_len,
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
                    segments.push(Segment {
                        len: e.ids.len() as u32,
                        task: e.task.id(),
                        doc: e.doc,
                        prompt_len: e.prompt_len,
                    });
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
        let lengths: Vec<usize> = encoded.iter().map(|(_, ids)| ids.len()).collect();
        self.count_raw(&lengths, stats);
        let seq = self.config.seq_len;
        let mut rows = Vec::new();
        for block in encoded.chunks(self.config.mix_block) {
            let mut row: Row = (Vec::with_capacity(seq), Vec::new());
            for (g, ids) in block {
                let mut rest = ids.as_slice();
                while !rest.is_empty() {
                    let take = rest.len().min(seq - row.0.len());
                    row.0.extend_from_slice(&rest[..take]);
                    row.1.push(Segment {
                        len: take as u32,
                        task: RAW_TASK_ID,
                        doc: *g,
                        prompt_len: 0,
                    });
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

    /// The ids a raw document emits: its encoding, plus EOS when examples get one.
    fn raw_len(&self, enc: &mut Encoder<'_>, g: u64, doc: Document<'_>) -> Result<usize> {
        let n = enc.count(doc.text).map_err(|e| at_document(e, g))?;
        Ok(n + usize::from(self.config.eos_per_example))
    }

    /// Counts raw documents of these lengths as [`Engine::raw_rows`] cuts them: per block of
    /// `mix_block` documents, the tokens that do not fill a whole row are dropped.
    fn count_raw(&self, lengths: &[usize], stats: &mut Stats) {
        for block in lengths.chunks(self.config.mix_block) {
            let total: usize = block.iter().sum();
            stats.raw_documents += block.len() as u64;
            stats.raw_tokens += total as u64;
            stats.raw_tokens_dropped += (total % self.config.seq_len) as u64;
        }
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

/// How many documents, taken in order, to make L2T so that the raw share of the output tokens
/// comes closest to `ratio`. Document `j` emits `raw[j]` tokens as raw text; as L2T it emits
/// `known[j]` where known, else about `expansion * raw[j]`. Ties go to fewer L2T documents.
fn l2t_count(raw: &[usize], known: &[u64], expansion: f64, ratio: f64) -> usize {
    // A split that emits nothing has no share: it never beats one that emits something.
    let deviation = |raw: u64, l2t: f64| {
        let total = raw as f64 + l2t;
        if total > 0.0 {
            (raw as f64 / total - ratio).abs()
        } else {
            f64::INFINITY
        }
    };
    let mut raw_left: u64 = raw.iter().map(|&n| n as u64).sum();
    let mut l2t = 0.0;
    let mut best = (deviation(raw_left, l2t), 0);
    for (j, &n) in raw.iter().enumerate() {
        raw_left -= n as u64;
        l2t += known.get(j).map_or(expansion * n as f64, |&t| t as f64);
        let d = deviation(raw_left, l2t);
        if d < best.0 {
            best = (d, j + 1);
        }
    }
    best.1
}

/// The ids of a document's examples.
fn example_tokens(examples: &[Example]) -> u64 {
    examples.iter().map(|e| e.ids.len() as u64).sum()
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

#[cfg(test)]
mod tests {
    use super::l2t_count;

    #[test]
    fn l2t_count_meets_the_ratio_on_the_estimate() {
        // Ten documents of 100 raw tokens that make 200 L2T tokens each: half the tokens are
        // raw when L2T gets a third of the documents (raw 700 vs 600 at 3, 600 vs 800 at 4).
        let raw = [100; 10];
        assert_eq!(l2t_count(&raw, &[], 2.0, 0.5), 3);
        assert_eq!(l2t_count(&raw, &[], 2.0, 0.0), 10);
        assert_eq!(l2t_count(&raw, &[], 2.0, 1.0), 0);
        // Known counts override the estimate: the first three documents made nothing (raw 500 vs
        // 400 at 5, 400 vs 600 at 6).
        assert_eq!(l2t_count(&raw, &[0, 0, 0], 2.0, 0.5), 5);
        // Nothing made at all: the all-L2T split emits nothing and never wins.
        assert_eq!(l2t_count(&raw, &[], 0.0, 0.0), 0);
        assert_eq!(l2t_count(&[], &[], 2.0, 0.5), 0);
    }
}

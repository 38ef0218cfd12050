//! l2t-core: the L2T engine in pure Rust.
//!
//! Raw text (or token ids) in, the paper's 14 language learning tasks out, exact on the
//! tokenizer's ids, deterministic for a given seed, packed into fixed-length rows.
//!
//! Layers, bottom up: [`text`] (Python-compatible characters, sentence splitting), [`tokenize`]
//! (exact, cached encoding), [`tasks`] (the 14 transforms), [`controller`] (task choice and
//! chunking), [`format`] (anchors), [`pack`] (rows), [`pipeline`] (the [`Engine`]).

pub mod config;
pub mod controller;
pub mod error;
pub mod format;
pub mod pack;
pub mod pipeline;
pub mod rng;
pub mod stats;
pub mod tasks;
pub mod text;
pub mod tokenize;

pub use config::{EngineConfig, MixBy, Mixing, Packing, Profile};
pub use error::{L2tError, Result};
pub use pipeline::{Document, Engine, Example, Packed, StreamPosition};
pub use stats::Stats;
pub use tasks::Task;
pub use tokenize::Tokenizer;

/// The library version (one version for the crates and the Python package).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

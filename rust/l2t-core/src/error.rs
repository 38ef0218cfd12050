//! The one error type of the core. Every fallible public function returns [`Result`].
//!
//! The bindings map each variant once to a Python exception (`l2t.ConfigError`,
//! `l2t.TokenizerError`, `l2t.InputError`, ...); the core never panics on user input.

use std::fmt;

/// Everything that can go wrong in the engine, by cause.
#[derive(Debug, thiserror::Error)]
pub enum L2tError {
    /// An option or combination of options is invalid (unknown task, ratio out of range, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The tokenizer could not be loaded or failed to encode/decode.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// A token id is outside the tokenizer's vocabulary.
    #[error("token id {id} is outside the vocabulary (size {vocab_size}){}", Location(.doc))]
    Vocab {
        id: u32,
        vocab_size: usize,
        doc: Option<usize>,
    },
    /// A document or record is unusable (invalid text, wrong type, ...).
    #[error("bad input{}: {message}", Location(.doc))]
    Input { message: String, doc: Option<usize> },
}

struct Location<'a>(&'a Option<usize>);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(doc) => write!(f, " (document {doc})"),
            None => Ok(()),
        }
    }
}

/// The core's result type.
pub type Result<T, E = L2tError> = std::result::Result<T, E>;

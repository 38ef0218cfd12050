//! The 14 language learning tasks: names, granularity, and one transform per task.
//!
//! A task turns one *chunk* of a document (a string, a list of sentences, or a fill-the-middle
//! triple, as the controller cuts it) into a `(prompt, completion)` pair, or `None` when the chunk
//! fails the task's minimum-word filter. The transforms are the `paper` profile's primary variants,
//! exactly as `TASKS.md` §1.4 specifies them; they work on Python `str` semantics (code points,
//! Python's whitespace and character classes) because that is what the reference observes.
//!
//! One file per granularity: [`char`] (Char Count, Masked Char, Space, Typo), [`word`] (Last, Masked
//! Word, Random Word, Shuffle, Token Type), [`sentence`] (Deletion, Reordering) and [`discourse`]
//! (Fill Middle, Half, One).

pub mod char;
pub mod discourse;
pub mod instructions;
pub mod sentence;
pub mod word;
pub mod wordlists;

use crate::error::{L2tError, Result};
use crate::rng::Rng;
use crate::text::pychars;

/// One of the 14 tasks. The discriminant is the stable task id stored in outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Task {
    CharCount = 0,
    MaskedChar = 1,
    Space = 2,
    Typo = 3,
    Last = 4,
    MaskedWord = 5,
    RandomWord = 6,
    Shuffle = 7,
    TokenType = 8,
    Deletion = 9,
    Reordering = 10,
    FillMiddle = 11,
    Half = 12,
    One = 13,
}

/// The task id stored for raw (next-token) text segments in packed outputs.
pub const RAW_TASK_ID: u8 = 255;

/// The level of language a task exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Character,
    Word,
    Sentence,
    Discourse,
}

impl Granularity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Character => "character",
            Self::Word => "word",
            Self::Sentence => "sentence",
            Self::Discourse => "discourse",
        }
    }
}

/// How the controller cuts a document for a task (TASKS.md §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    /// Blocks of sentences joined by a space.
    String,
    /// Blocks of sentences kept as a list.
    List,
    /// Twice as many string blocks, each cut into three thirds of its space-separated pieces.
    Triple,
}

impl Task {
    /// All tasks in id order.
    pub const ALL: [Task; 14] = [
        Task::CharCount,
        Task::MaskedChar,
        Task::Space,
        Task::Typo,
        Task::Last,
        Task::MaskedWord,
        Task::RandomWord,
        Task::Shuffle,
        Task::TokenType,
        Task::Deletion,
        Task::Reordering,
        Task::FillMiddle,
        Task::Half,
        Task::One,
    ];

    /// l2t's name of the task.
    pub fn name(self) -> &'static str {
        match self {
            Self::CharCount => "char_count",
            Self::MaskedChar => "masked_char",
            Self::Space => "space",
            Self::Typo => "typo",
            Self::Last => "last",
            Self::MaskedWord => "masked_word",
            Self::RandomWord => "random_word",
            Self::Shuffle => "shuffle",
            Self::TokenType => "token_type",
            Self::Deletion => "deletion",
            Self::Reordering => "reordering",
            Self::FillMiddle => "fill_middle",
            Self::Half => "half",
            Self::One => "one",
        }
    }

    /// The reference implementation's `--task_type` name, accepted as an alias.
    pub fn reference_name(self) -> &'static str {
        match self {
            Self::CharCount => "char_count",
            Self::MaskedChar => "char_identification",
            Self::Space => "space_insertion",
            Self::Typo => "typo_correction",
            Self::Last => "last_phrase_prediction",
            Self::MaskedWord => "mlm",
            Self::RandomWord => "random",
            Self::Shuffle => "shuffle",
            Self::TokenType => "token_type",
            Self::Deletion => "sentence_deletion",
            Self::Reordering => "sentence_reordering",
            Self::FillMiddle => "passage_completion",
            Self::Half => "half_completion",
            Self::One => "one_word_completion",
        }
    }

    /// Looks a task up by l2t name or reference alias.
    pub fn from_name(name: &str) -> Result<Task> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name || t.reference_name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                L2tError::Config(format!(
                    "unknown task {name:?}; known tasks: {}",
                    known.join(", ")
                ))
            })
    }

    /// The task with this id.
    pub fn from_id(id: u8) -> Option<Task> {
        Self::ALL.get(usize::from(id)).copied()
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    pub fn granularity(self) -> Granularity {
        match self {
            Self::CharCount | Self::MaskedChar | Self::Space | Self::Typo => Granularity::Character,
            Self::Last | Self::MaskedWord | Self::RandomWord | Self::Shuffle | Self::TokenType => {
                Granularity::Word
            }
            Self::Deletion | Self::Reordering => Granularity::Sentence,
            Self::FillMiddle | Self::Half | Self::One => Granularity::Discourse,
        }
    }

    /// One line on what the model learns to do.
    pub fn description(self) -> &'static str {
        match self {
            Self::CharCount => "count the characters of a passage",
            Self::MaskedChar => "restore letters replaced by a mask string",
            Self::Space => "restore the spaces removed from a passage",
            Self::Typo => "correct random character substitutions",
            Self::Last => "choose the true ending of a sentence between two options",
            Self::MaskedWord => "restore words replaced by mask strings",
            Self::RandomWord => "restore words replaced by random dictionary words",
            Self::Shuffle => "restore the order of swapped word pairs",
            Self::TokenType => "count content words, stop words, digits or punctuation marks",
            Self::Deletion => "find or remove a sentence inserted from another document",
            Self::Reordering => "restore the order of shuffled sentences",
            Self::FillMiddle => "write the missing middle third of a passage",
            Self::Half => "continue a passage from its first half",
            Self::One => "write a passage from its first word",
        }
    }

    /// How the controller chunks a document for this task.
    pub fn chunk_kind(self) -> ChunkKind {
        match self {
            Self::Last | Self::Deletion | Self::Reordering => ChunkKind::List,
            Self::FillMiddle => ChunkKind::Triple,
            _ => ChunkKind::String,
        }
    }

    /// Whether the task draws a sentence from the previous document.
    pub fn needs_previous(self) -> bool {
        matches!(self, Self::Last | Self::Deletion)
    }
}

/// The eight mask strings of Masked Char, Masked Word and Last.
pub const MASKS: [&str; 8] = ["[MASK]", "___", "@@@", "###", "+++", "<<>>", "(())", "$$$"];

/// A piece of a document, as the controller cut it for the document's task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    String(String),
    List(Vec<String>),
    Triple(String, String, String),
}

/// A task's output for one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptCompletion {
    pub prompt: String,
    pub completion: String,
}

impl PromptCompletion {
    fn new(prompt: String, completion: String) -> Self {
        Self { prompt, completion }
    }
}

/// What a transform may read besides its chunk.
pub struct TaskContext<'a> {
    /// Minimum whitespace-separated words a chunk needs (20 in the paper).
    pub min_words: usize,
    /// The previous document's sentences (Deletion, Last); never empty when present.
    pub previous: Option<&'a [String]>,
    pub stopwords: &'a wordlists::StopWords,
    pub random_words: &'a [&'static str],
}

/// Applies `task` to one chunk; `None` when the chunk is filtered out.
pub fn apply(
    task: Task,
    chunk: &Chunk,
    ctx: &TaskContext<'_>,
    rng: &mut Rng,
) -> Option<PromptCompletion> {
    match (task, chunk) {
        (Task::CharCount, Chunk::String(s)) => char::char_count(s, ctx, rng),
        (Task::MaskedChar, Chunk::String(s)) => char::masked_char(s, ctx, rng),
        (Task::Space, Chunk::String(s)) => char::space(s, ctx),
        (Task::Typo, Chunk::String(s)) => char::typo(s, ctx, rng),
        (Task::Last, Chunk::List(l)) => word::last(l, ctx, rng),
        (Task::MaskedWord, Chunk::String(s)) => word::masked_word(s, ctx, rng),
        (Task::RandomWord, Chunk::String(s)) => word::random_word(s, ctx, rng),
        (Task::Shuffle, Chunk::String(s)) => word::shuffle(s, ctx, rng),
        (Task::TokenType, Chunk::String(s)) => word::token_type(s, ctx, rng),
        (Task::Deletion, Chunk::List(l)) => sentence::deletion(l, ctx, rng),
        (Task::Reordering, Chunk::List(l)) => sentence::reordering(l, ctx, rng),
        (Task::FillMiddle, Chunk::Triple(a, b, c)) => discourse::fill_middle(a, b, c, ctx, rng),
        (Task::Half, Chunk::String(s)) => discourse::half(s, ctx),
        (Task::One, Chunk::String(s)) => discourse::one(s, ctx),
        // The controller builds the chunk kind from `Task::chunk_kind`, so this cannot happen;
        // a mismatch yields no example rather than a panic.
        _ => None,
    }
}

/// Python's `round(x)` for a non-negative double: round half to even, as an index count.
pub(crate) fn py_round(x: f64) -> usize {
    x.round_ties_even().max(0.0) as usize
}

/// Number of words of Python's `s.split()`.
pub(crate) fn word_count(s: &str) -> usize {
    pychars::split_whitespace(s).count()
}

/// Python's `" ".join(s.split())`: the chunk with whitespace normalised.
pub(crate) fn normalize_whitespace(s: &str) -> String {
    join_words(pychars::split_whitespace(s))
}

/// Joins words with single spaces.
pub(crate) fn join_words<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, w) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Joins an instruction and a text with a blank line, in random order (p = 0.5 each).
pub(crate) fn join_instruction(instruction: &str, text: &str, rng: &mut Rng) -> String {
    if rng.bernoulli(0.5) {
        format!("{instruction}\n\n{text}")
    } else {
        format!("{text}\n\n{instruction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_round_trip() {
        for t in Task::ALL {
            assert_eq!(Task::from_name(t.name()).unwrap(), t);
            assert_eq!(Task::from_name(t.reference_name()).unwrap(), t);
            assert_eq!(Task::from_id(t.id()), Some(t));
        }
        assert!(matches!(Task::from_name("nope"), Err(L2tError::Config(_))));
        assert_eq!(Task::from_id(14), None);
    }

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!(py_round(0.5), 0);
        assert_eq!(py_round(1.5), 2);
        assert_eq!(py_round(2.5), 2);
        assert_eq!(py_round(0.15 * 10.0), 2); // 1.5000000000000002 in doubles
        assert_eq!(py_round(0.15 * 30.0), 4); // 4.5 exactly -> 4
    }
}

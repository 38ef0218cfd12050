//! Discourse-level tasks: Fill Middle, Half, One (TASKS.md §1.4).

use super::{join_words, word_count, PromptCompletion, TaskContext};
use crate::rng::Rng;
use crate::text::pychars;

/// The 24 label pairs of Fill Middle (first and third part; each label with its trailing space).
const FILL_MIDDLE_LABELS: [(&str, &str); 24] = [
    ("[1] ", "[3] "),
    ("[A] ", "[C] "),
    ("[a] ", "[c] "),
    ("[i] ", "[iii] "),
    ("[First] ", "[Third] "),
    ("[Opening] ", "[Closing] "),
    ("1. ", "3. "),
    ("A. ", "C. "),
    ("a. ", "c. "),
    ("i. ", "iii. "),
    ("1: ", "3: "),
    ("A: ", "C: "),
    ("a: ", "c: "),
    ("i: ", "iii: "),
    ("First: ", "Third: "),
    ("Opening: ", "Closing: "),
    ("(1) ", "(3) "),
    ("(A) ", "(C) "),
    ("(a) ", "(c) "),
    ("(i) ", "(iii) "),
    ("1) ", "3) "),
    ("A) ", "C) "),
    ("a) ", "c) "),
    ("i) ", "iii) "),
];

/// Cuts a block into thirds of its `" "`-separated pieces (empty pieces kept, as Python's
/// `s.split(" ")`); the last third takes the remainder.
pub fn thirds(block: &str) -> (String, String, String) {
    let pieces: Vec<&str> = block.split(' ').collect();
    let t = pieces.len() / 3;
    (
        pieces[..t].join(" "),
        pieces[t..2 * t].join(" "),
        pieces[2 * t..].join(" "),
    )
}

/// Fill Middle: the first and last thirds are given (optionally labelled); the middle is the answer.
pub fn fill_middle(
    a: &str,
    b: &str,
    c: &str,
    ctx: &TaskContext<'_>,
    rng: &mut Rng,
) -> Option<PromptCompletion> {
    if [a, b, c]
        .iter()
        .any(|part| word_count(part) < ctx.min_words)
    {
        return None;
    }
    let (l1, l3) = if rng.bernoulli(0.5) {
        ("", "")
    } else {
        *rng.choice(&FILL_MIDDLE_LABELS)?
    };
    Some(PromptCompletion::new(
        format!("{l1}{a}\n{l3}{c}"),
        b.to_owned(),
    ))
}

/// Half: the first half of the words; the answer is the rest, after a leading space.
pub fn half(chunk: &str, ctx: &TaskContext<'_>) -> Option<PromptCompletion> {
    let words: Vec<&str> = pychars::split_whitespace(chunk).collect();
    if words.len() < ctx.min_words {
        return None;
    }
    let h = words.len() / 2;
    let second = join_words(words[h..].iter().copied());
    Some(PromptCompletion::new(
        join_words(words[..h].iter().copied()),
        format!(" {second}"),
    ))
}

/// One: the first `" "`-separated piece; the answer is the whole chunk, that piece included.
pub fn one(chunk: &str, ctx: &TaskContext<'_>) -> Option<PromptCompletion> {
    if word_count(chunk) < ctx.min_words {
        return None;
    }
    let first = chunk.split(' ').next().unwrap_or_default();
    Some(PromptCompletion::new(first.to_owned(), chunk.to_owned()))
}

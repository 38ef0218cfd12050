//! Sentence-level tasks: Deletion and Reordering (TASKS.md §1.4). Chunks are sentence lists.

use super::{word_count, PromptCompletion, TaskContext};
use crate::rng::Rng;

fn list_word_count(sentences: &[String]) -> usize {
    sentences.iter().map(|s| word_count(s)).sum()
}

/// Deletion: a sentence of the previous document is inserted at a random position; the answer is
/// either the coherent passage or the intruder itself (one of the two variants, 50/50).
pub fn deletion(
    sentences: &[String],
    ctx: &TaskContext<'_>,
    rng: &mut Rng,
) -> Option<PromptCompletion> {
    if list_word_count(sentences) < ctx.min_words {
        return None;
    }
    let previous = ctx.previous.filter(|p| !p.is_empty())?;
    let answer_is_passage = rng.bernoulli(0.5);
    let intruder = rng.choice(previous)?;
    let at = rng.below(sentences.len() + 1);
    let mut augmented: Vec<&str> = sentences.iter().map(String::as_str).collect();
    augmented.insert(at, intruder);
    let completion = if answer_is_passage {
        sentences.join(" ")
    } else {
        intruder.clone()
    };
    Some(PromptCompletion::new(augmented.join(" "), completion))
}

/// Reordering: the sentences in a uniformly random order (the identity included).
pub fn reordering(
    sentences: &[String],
    ctx: &TaskContext<'_>,
    rng: &mut Rng,
) -> Option<PromptCompletion> {
    if list_word_count(sentences) < ctx.min_words {
        return None;
    }
    let mut order: Vec<&str> = sentences.iter().map(String::as_str).collect();
    rng.shuffle(&mut order);
    Some(PromptCompletion::new(order.join(" "), sentences.join(" ")))
}

//! The controller: which task a document gets, and how the document is cut into chunks
//! (TASKS.md §2.2–2.4).
//!
//! Task choice is per document and uniform over the *eligible* tasks (or proportional to the
//! configured weights): every document is eligible for the eight tasks that need nothing, Char
//! Count and Token Type; documents with at least three sentences add Fill Middle and Reordering;
//! documents with at least two sentences and a previous document add Last and Deletion. Chunking
//! is the reference's "loose" chunking: the number of blocks follows the document's token count
//! (`n = T / 512 + 1`), and blocks are runs of whole sentences.

use crate::rng::Rng;
use crate::tasks::{discourse, Chunk, ChunkKind, Task};

/// The tasks a document may get, in the reference's candidate order.
pub fn candidates(n_sentences: usize, has_previous: bool) -> Vec<Task> {
    let mut out = vec![
        Task::Shuffle,
        Task::MaskedWord,
        Task::MaskedChar,
        Task::RandomWord,
        Task::Typo,
        Task::Half,
        Task::One,
        Task::Space,
    ];
    if n_sentences >= 3 {
        out.extend([
            Task::FillMiddle,
            Task::CharCount,
            Task::TokenType,
            Task::Reordering,
        ]);
    } else {
        out.extend([Task::CharCount, Task::TokenType]);
    }
    if n_sentences >= 2 && has_previous {
        out.extend([Task::Last, Task::Deletion]);
    }
    out
}

/// Draws one task among `candidates`, each weighted by `weights[task id]` (tasks with weight 0
/// are excluded); `None` if no candidate has a positive weight.
pub fn choose_task(candidates: &[Task], weights: &[f64; 14], rng: &mut Rng) -> Option<Task> {
    let eligible: Vec<Task> = candidates
        .iter()
        .copied()
        .filter(|t| weights[usize::from(t.id())] > 0.0)
        .collect();
    let first = *eligible.first()?;
    let w0 = weights[usize::from(first.id())];
    // Equal weights (bit for bit) take the uniform draw the reference makes.
    if eligible
        .iter()
        .all(|t| weights[usize::from(t.id())].to_bits() == w0.to_bits())
    {
        return rng.choice(&eligible).copied();
    }
    let total: f64 = eligible.iter().map(|t| weights[usize::from(t.id())]).sum();
    let mut x = rng.random() * total;
    for &t in &eligible {
        x -= weights[usize::from(t.id())];
        if x < 0.0 {
            return Some(t);
        }
    }
    eligible.last().copied()
}

/// Blocks of consecutive sentences: `n <= 1` gives one block holding everything (even when there
/// are no sentences); otherwise blocks of `ceil(S / n)` sentences, so there can be fewer than `n`.
fn blocks(sentences: &[String], n: usize) -> Vec<&[String]> {
    if n <= 1 {
        return vec![sentences];
    }
    let size = sentences.len().div_ceil(n).max(1);
    sentences.chunks(size).collect()
}

/// Cuts a document's sentences into the chunks of `task`, for a document of `tokens` tokens and a
/// per-chunk budget of `chunk_tokens` (512 in the paper).
pub fn chunk(task: Task, sentences: &[String], tokens: usize, chunk_tokens: usize) -> Vec<Chunk> {
    let per_budget = tokens / chunk_tokens.max(1);
    match task.chunk_kind() {
        ChunkKind::String => blocks(sentences, per_budget + 1)
            .into_iter()
            .map(|b| Chunk::String(b.join(" ")))
            .collect(),
        ChunkKind::List => blocks(sentences, per_budget + 1)
            .into_iter()
            .map(|b| Chunk::List(b.to_vec()))
            .collect(),
        ChunkKind::Triple => blocks(sentences, 2 * per_budget + 1)
            .into_iter()
            .map(|b| {
                let (a, m, c) = discourse::thirds(&b.join(" "));
                Chunk::Triple(a, m, c)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    fn sents(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("S{i}.")).collect()
    }

    #[test]
    fn candidate_counts_follow_the_reference() {
        assert_eq!(candidates(5, true).len(), 14);
        assert_eq!(candidates(5, false).len(), 12);
        assert_eq!(candidates(2, true).len(), 12);
        assert_eq!(candidates(2, false).len(), 10);
        assert_eq!(candidates(1, true).len(), 10);
        assert_eq!(candidates(0, false).len(), 10);
        assert!(!candidates(2, true).contains(&Task::Reordering));
    }

    #[test]
    fn blocks_match_the_worked_example() {
        // 5 sentences, T = 1100 -> n = 3 -> size 2 -> {S0 S1} {S2 S3} {S4}.
        let c = chunk(Task::Half, &sents(5), 1100, 512);
        assert_eq!(
            c,
            vec![
                Chunk::String("S0. S1.".into()),
                Chunk::String("S2. S3.".into()),
                Chunk::String("S4.".into())
            ]
        );
        // Fewer blocks than n when sentences run out.
        assert_eq!(chunk(Task::Half, &sents(2), 5000, 512).len(), 2);
        // No sentences: one empty block when n <= 1, none otherwise.
        assert_eq!(
            chunk(Task::Half, &[], 10, 512),
            vec![Chunk::String(String::new())]
        );
        assert!(chunk(Task::Half, &[], 5000, 512).is_empty());
        // Fill Middle uses 2n+1 blocks.
        assert_eq!(chunk(Task::FillMiddle, &sents(10), 600, 512).len(), 3);
    }

    #[test]
    fn weighted_choice_respects_zero_weights() {
        let mut w = [1.0; 14];
        w[usize::from(Task::Shuffle.id())] = 0.0;
        let mut rng = Rng::new(0, 0, Purpose::TaskChoice);
        for _ in 0..1000 {
            assert_ne!(
                choose_task(&candidates(5, true), &w, &mut rng),
                Some(Task::Shuffle)
            );
        }
        assert_eq!(
            choose_task(&candidates(5, true), &[0.0; 14], &mut rng),
            None
        );
        let mut only = [0.0; 14];
        only[usize::from(Task::Half.id())] = 2.0;
        only[usize::from(Task::One.id())] = 1.0;
        let halves = (0..3000)
            .filter(|_| choose_task(&candidates(5, true), &only, &mut rng) == Some(Task::Half))
            .count();
        assert!((1800..2200).contains(&halves), "{halves}");
    }
}

//! Counters of what the engine made and what it dropped, so nothing is lost silently.

use serde::Serialize;

use crate::tasks::Task;

/// Per-task counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskStats {
    /// Documents that got this task.
    pub documents: u64,
    /// Examples emitted.
    pub examples: u64,
    /// Ids of the emitted examples.
    pub tokens: u64,
    /// Chunks dropped by the minimum-word filter (or lacking a previous document's sentence).
    pub chunks_filtered: u64,
    /// Examples dropped because their ids exceed `max_length`.
    pub too_long: u64,
}

/// Counters for one call (add them up across calls with [`Stats::merge`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub documents: u64,
    /// Documents with no sentence at all (empty or whitespace only); they yield no example.
    pub empty_documents: u64,
    /// Documents for which no task was eligible under the configured weights.
    pub documents_without_task: u64,
    /// Documents used as raw next-token text.
    pub raw_documents: u64,
    pub raw_tokens: u64,
    /// Raw tokens cut off at the end of a raw block because they did not fill a whole row.
    pub raw_tokens_dropped: u64,
    pub rows: u64,
    /// Row slots holding pads.
    pub pad_tokens: u64,
    /// Per task, in task-id order.
    pub tasks: Vec<(String, TaskStats)>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            documents: 0,
            empty_documents: 0,
            documents_without_task: 0,
            raw_documents: 0,
            raw_tokens: 0,
            raw_tokens_dropped: 0,
            rows: 0,
            pad_tokens: 0,
            tasks: Task::ALL
                .iter()
                .map(|t| (t.name().to_owned(), TaskStats::default()))
                .collect(),
        }
    }
}

impl Stats {
    pub fn task_mut(&mut self, task: Task) -> &mut TaskStats {
        &mut self.tasks[usize::from(task.id())].1
    }

    pub fn task(&self, task: Task) -> &TaskStats {
        &self.tasks[usize::from(task.id())].1
    }

    /// Adds another call's counters to these.
    pub fn merge(&mut self, other: &Stats) {
        self.documents += other.documents;
        self.empty_documents += other.empty_documents;
        self.documents_without_task += other.documents_without_task;
        self.raw_documents += other.raw_documents;
        self.raw_tokens += other.raw_tokens;
        self.raw_tokens_dropped += other.raw_tokens_dropped;
        self.rows += other.rows;
        self.pad_tokens += other.pad_tokens;
        for ((_, a), (_, b)) in self.tasks.iter_mut().zip(&other.tasks) {
            a.documents += b.documents;
            a.examples += b.examples;
            a.tokens += b.tokens;
            a.chunks_filtered += b.chunks_filtered;
            a.too_long += b.too_long;
        }
    }

    /// Total examples over all tasks.
    pub fn examples(&self) -> u64 {
        self.tasks.iter().map(|(_, t)| t.examples).sum()
    }
}

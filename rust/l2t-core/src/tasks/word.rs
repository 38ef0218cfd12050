//! Word-level tasks: Last, Masked Word, Random Word, Shuffle, Token Type (TASKS.md §1.4).
//!
//! Words are Python's `s.split()` pieces; the corrupted prompt is re-joined with single spaces, so
//! whitespace is normalised in prompts (and in completions where the reference normalises them).

use super::{
    instructions, join_instruction, join_words, normalize_whitespace, py_round, word_count,
    PromptCompletion, TaskContext, MASKS,
};
use crate::rng::Rng;
use crate::text::pychars;

/// The 18 option-label pairs of Last (each label carries its trailing space).
const LAST_LABELS: [(&str, &str); 18] = [
    ("[a] ", "[b] "),
    ("[A] ", "[B] "),
    ("1. ", "2. "),
    ("A. ", "B. "),
    ("a. ", "b. "),
    ("i. ", "ii. "),
    ("1: ", "2: "),
    ("A: ", "B: "),
    ("a: ", "b: "),
    ("i: ", "ii: "),
    ("(1) ", "(2) "),
    ("(A) ", "(B) "),
    ("(a) ", "(b) "),
    ("(i) ", "(ii) "),
    ("1) ", "2) "),
    ("A) ", "B) "),
    ("a) ", "b) "),
    ("i) ", "ii) "),
];

/// Splits a sentence into (base, phrase) at the last stop word: the phrase runs from the last
/// token whose lower-case form is a stop word to the end; without one, it is the last token only.
fn split_last_phrase(sentence: &str, ctx: &TaskContext<'_>) -> (String, String) {
    let tokens: Vec<&str> = pychars::split_whitespace(sentence).collect();
    // Python's `tokens[-1:]` / `tokens[:-1]` when no stop word is found (j = -1).
    let j = tokens
        .iter()
        .rposition(|t| ctx.stopwords.contains(t))
        .unwrap_or(tokens.len().saturating_sub(1));
    (
        join_words(tokens[..j].iter().copied()),
        join_words(tokens[j..].iter().copied()),
    )
}

/// Last: the final phrase of the chunk's last sentence is masked; the model picks it over a
/// distractor phrase taken from a sentence of the previous document.
pub fn last(
    sentences: &[String],
    ctx: &TaskContext<'_>,
    rng: &mut Rng,
) -> Option<PromptCompletion> {
    let words: usize = sentences.iter().map(|s| word_count(s)).sum();
    if words < ctx.min_words {
        return None;
    }
    let previous = ctx.previous.filter(|p| !p.is_empty())?;
    let (last_sentence, passage) = sentences.split_last()?;
    let mask = *rng.choice(&MASKS)?;
    let passage = passage.join(" ");
    let (base, phrase) = split_last_phrase(last_sentence, ctx);
    let mut question = format!("{base} {mask}");
    if rng.bernoulli(0.5) {
        question.push('?');
    }
    let foreign = rng.choice(previous)?;
    let (_, distractor) = split_last_phrase(foreign, ctx);
    let true_first = rng.bernoulli(0.5);
    let (labels, options) = {
        let labels = if rng.bernoulli(0.5) {
            ("", "")
        } else {
            *rng.choice(&LAST_LABELS)?
        };
        let options = if true_first {
            [&phrase, &distractor]
        } else {
            [&distractor, &phrase]
        };
        (labels, options)
    };
    let context = if rng.bernoulli(0.5) {
        format!("{passage} {question}")
    } else {
        format!("{passage}\n\nQuestion: {question}")
    };
    let header = if rng.bernoulli(0.5) {
        "\n\nOptions:\n"
    } else {
        "\n\n"
    };
    let prompt = format!(
        "{context}{header}{}{}\n{}{}",
        labels.0, options[0], labels.1, options[1]
    );
    // When both phrases are equal the reference finds the phrase at the first position.
    let true_label = if true_first || phrase == distractor {
        labels.0
    } else {
        labels.1
    };
    Some(PromptCompletion::new(
        prompt,
        format!("{true_label}{phrase}"),
    ))
}

/// Masked Word: round(15%) of the words become a mask string drawn per position.
pub fn masked_word(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    let mut words: Vec<&str> = pychars::split_whitespace(chunk).collect();
    if words.len() < ctx.min_words {
        return None;
    }
    let k = py_round(0.15 * words.len() as f64);
    for i in rng.sample(words.len(), k) {
        words[i] = rng.choice(&MASKS)?;
    }
    Some(PromptCompletion::new(join_words(words), chunk.to_owned()))
}

/// Random Word: 5–10% of the words (at least one) become a random dictionary word, capitalised
/// where the original word starts upper-case, else lower-cased.
pub fn random_word(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    let words: Vec<&str> = pychars::split_whitespace(chunk).collect();
    if words.len() < ctx.min_words {
        return None;
    }
    let rate = rng.uniform(0.05, 0.10);
    let k = py_round(words.len() as f64 * rate).max(1);
    let mut out: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    for i in rng.sample(words.len(), k) {
        let replacement = rng.choice(ctx.random_words)?;
        let starts_upper = words[i].chars().next().is_some_and(pychars::is_upper);
        out[i] = if starts_upper {
            pychars::capitalize(replacement)
        } else {
            pychars::lower(replacement)
        };
    }
    Some(PromptCompletion::new(
        join_words(out.iter().map(String::as_str)),
        normalize_whitespace(chunk),
    ))
}

/// Shuffle: 5–10% of the words (at least one pair, at most half the words) are swapped in
/// disjoint random pairs.
pub fn shuffle(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    let mut words: Vec<&str> = pychars::split_whitespace(chunk).collect();
    if words.len() < ctx.min_words {
        return None;
    }
    let rate = rng.uniform(0.05, 0.10);
    let mut k = py_round(words.len() as f64 * rate).max(1);
    if 2 * k > words.len() {
        k = words.len() / 2;
    }
    let picked = rng.sample(words.len(), 2 * k);
    for pair in picked.chunks_exact(2) {
        words.swap(pair[0], pair[1]);
    }
    Some(PromptCompletion::new(
        join_words(words),
        normalize_whitespace(chunk),
    ))
}

/// The four Token Type counting sub-tasks.
#[derive(Clone, Copy)]
enum TokenCount {
    ContentWords,
    StopWords,
    Digits,
    Punctuation,
}

/// Token Type: one of four counts, with its instruction, in random order with the chunk.
pub fn token_type(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    if word_count(chunk) < ctx.min_words {
        return None;
    }
    let kind = [
        TokenCount::ContentWords,
        TokenCount::StopWords,
        TokenCount::Digits,
        TokenCount::Punctuation,
    ][rng.below(4)];
    let (list, count) = match kind {
        TokenCount::ContentWords => (
            &instructions::CONTENT_WORDS,
            pychars::split_whitespace(chunk)
                .filter(|w| w.chars().all(pychars::is_alnum) && !ctx.stopwords.contains(w))
                .count(),
        ),
        TokenCount::StopWords => (
            &instructions::STOP_WORDS,
            pychars::split_whitespace(chunk)
                .filter(|w| ctx.stopwords.contains(w))
                .count(),
        ),
        TokenCount::Digits => (
            &instructions::DIGITS,
            chunk.chars().filter(|&c| pychars::is_digit(c)).count(),
        ),
        TokenCount::Punctuation => (
            &instructions::PUNCTUATION,
            chunk
                .chars()
                .filter(|&c| pychars::is_ascii_punctuation(c))
                .count(),
        ),
    };
    let instruction = rng.choice(list)?;
    let prompt = join_instruction(instruction, chunk, rng);
    Some(PromptCompletion::new(prompt, count.to_string()))
}

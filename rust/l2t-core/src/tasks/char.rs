//! Character-level tasks: Char Count, Masked Char, Space, Typo (TASKS.md §1.4).
//!
//! Positions are code points and classes are Python's (`isalnum`, `isdigit`, `isupper`), because
//! the reference indexes Python strings.

use super::{
    instructions, join_instruction, py_round, word_count, PromptCompletion, TaskContext, MASKS,
};
use crate::rng::Rng;
use crate::text::pychars;

/// Char Count: the instruction and the chunk in random order; the answer is `len(chunk)`.
pub fn char_count(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    if word_count(chunk) < ctx.min_words {
        return None;
    }
    let instruction = rng.choice(&instructions::CHAR_COUNT)?;
    let prompt = join_instruction(instruction, chunk, rng);
    Some(PromptCompletion::new(
        prompt,
        pychars::py_len(chunk).to_string(),
    ))
}

/// Masked Char: 15% of the letters (Python `isalnum() and not isdigit()`) each become one mask
/// string, the same mask for the whole chunk.
pub fn masked_char(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    if word_count(chunk) < ctx.min_words {
        return None;
    }
    let mask = *rng.choice(&MASKS)?;
    let chars: Vec<char> = chunk.chars().collect();
    let valid: Vec<usize> = (0..chars.len())
        .filter(|&i| pychars::is_alnum(chars[i]) && !pychars::is_digit(chars[i]))
        .collect();
    let k = py_round(0.15 * valid.len() as f64);
    let mut masked = vec![false; chars.len()];
    for i in rng.sample(valid.len(), k) {
        masked[valid[i]] = true;
    }
    let prompt = replace_marked(&chars, &masked, |_| mask);
    Some(PromptCompletion::new(prompt, chunk.to_owned()))
}

/// Space: every U+0020 removed; other whitespace kept.
pub fn space(chunk: &str, ctx: &TaskContext<'_>) -> Option<PromptCompletion> {
    if word_count(chunk) < ctx.min_words {
        return None;
    }
    let prompt: String = chunk.chars().filter(|&c| c != ' ').collect();
    Some(PromptCompletion::new(prompt, chunk.to_owned()))
}

/// Typo: 3–8% of the alphanumeric characters (at least one) become a random letter, upper-case
/// where the original is upper-case. A chunk without alphanumerics gets the "fix the typos"
/// instruction instead.
pub fn typo(chunk: &str, ctx: &TaskContext<'_>, rng: &mut Rng) -> Option<PromptCompletion> {
    if word_count(chunk) < ctx.min_words {
        return None;
    }
    let chars: Vec<char> = chunk.chars().collect();
    let valid: Vec<usize> = (0..chars.len())
        .filter(|&i| pychars::is_alnum(chars[i]))
        .collect();
    if valid.is_empty() {
        let instruction = rng.choice(&instructions::TYPO_FIX)?;
        let prompt = join_instruction(instruction, chunk, rng);
        return Some(PromptCompletion::new(prompt, chunk.to_owned()));
    }
    let rate = rng.uniform(0.03, 0.08);
    let k = py_round(valid.len() as f64 * rate).max(1);
    let mut out = chars.clone();
    for i in rng.sample(valid.len(), k) {
        let pos = valid[i];
        let letter = b'a' + rng.below(26) as u8;
        out[pos] = if pychars::is_upper(chars[pos]) {
            char::from(letter.to_ascii_uppercase())
        } else {
            char::from(letter)
        };
    }
    Some(PromptCompletion::new(
        out.into_iter().collect(),
        chunk.to_owned(),
    ))
}

/// Rebuilds a string from `chars`, replacing each marked character by `replacement(c)`.
fn replace_marked<'r>(
    chars: &[char],
    marked: &[bool],
    replacement: impl Fn(char) -> &'r str,
) -> String {
    let mut out = String::with_capacity(chars.len() + 16);
    for (&c, &m) in chars.iter().zip(marked) {
        if m {
            out.push_str(replacement(c));
        } else {
            out.push(c);
        }
    }
    out
}

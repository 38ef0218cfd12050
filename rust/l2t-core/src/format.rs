//! Formatting: prompt and completion joined through an anchor into one training string
//! (TASKS.md §3.1).
//!
//! The anchor is drawn uniformly from seven values, the empty one included. A non-empty anchor is
//! followed by a space unless the completion already starts with one (Half's completions do).

use crate::rng::Rng;

/// The seven anchors between prompt and completion.
pub const ANCHORS: [&str; 7] = ["Answer:", "Response:", "A:", "(A)", "A)", "A.", ""];

/// The training string for one example, with a uniformly drawn anchor.
pub fn join(prompt: &str, completion: &str, rng: &mut Rng) -> String {
    let anchor = ANCHORS[rng.below(ANCHORS.len())];
    join_with_anchor(prompt, completion, anchor)
}

/// The training string for a given anchor.
pub fn join_with_anchor(prompt: &str, completion: &str, anchor: &str) -> String {
    let sep = if !anchor.is_empty() && !completion.starts_with(' ') {
        " "
    } else {
        ""
    };
    let mut text = String::with_capacity(prompt.len() + completion.len() + anchor.len() + 3);
    text.push_str(prompt);
    text.push_str("\n\n");
    text.push_str(anchor);
    text.push_str(sep);
    text.push_str(completion);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_rules_follow_the_reference() {
        assert_eq!(
            join_with_anchor("The", "The cat", "A."),
            "The\n\nA. The cat"
        );
        assert_eq!(
            join_with_anchor("p", " second half", "Answer:"),
            "p\n\nAnswer: second half"
        );
        assert_eq!(
            join_with_anchor("p", " second half", ""),
            "p\n\n second half"
        );
        assert_eq!(join_with_anchor("p", "c", ""), "p\n\nc");
    }
}

//! Instruction paraphrases that accompany a text passage in generated L2T examples.
//!
//! These are l2t's own wordings, written for this project. Each list holds 20 paraphrases
//! of one task's instruction; entry 0 is the task's default instruction. The generator
//! draws one entry uniformly at random per example, so a model learns the task rather
//! than one fixed prompt string. Entries avoid "below" and "following" so they read
//! correctly wherever the instruction sits relative to the passage.

/// Count every character of the passage, spaces and punctuation included (Python `len`).
pub const CHAR_COUNT: [&str; 20] = [
    "Count the number of characters.",
    "How many characters does this text contain?",
    "Report the total character count of this passage.",
    "Determine how many characters are in this text.",
    "Count every character, including spaces and punctuation.",
    "What is the length of this text in characters?",
    "Tally all the characters in the passage.",
    "Compute the total number of characters here.",
    "How many characters long is this passage?",
    "Give the character count for this text.",
    "Count all characters, spaces and punctuation included.",
    "Find the total number of characters in this text.",
    "What is the character count of the passage?",
    "Work out how many characters this text has.",
    "State the number of characters in the passage.",
    "How many characters, spaces included, are there?",
    "Calculate the length of this text in characters.",
    "Report how many characters appear in this text.",
    "Count the characters in the passage, blanks included.",
    "What is the total number of characters in this text?",
];

/// Rewrite the passage with its injected typos corrected.
pub const TYPO_FIX: [&str; 20] = [
    "Fix the typos in this text.",
    "Correct the spelling mistakes in this passage.",
    "Rewrite this text with all typos corrected.",
    "Can you fix the misspellings in this text?",
    "Repair the typographical errors in the passage.",
    "Proofread this text and correct its typos.",
    "Clean up the spelling errors in this text.",
    "Return this passage with the typos fixed.",
    "Please correct any misspelled words in this text.",
    "Find and fix the typos in this passage.",
    "Undo the typing mistakes in this text.",
    "What does this text say once its typos are fixed?",
    "Restore the correct spelling of this text.",
    "Correct every typo in this passage.",
    "Edit this text to remove its spelling mistakes.",
    "Fix the misspelled words in this passage.",
    "Produce a typo-free version of this text.",
    "Could you correct the typos in this passage?",
    "Rewrite the passage, fixing each spelling error.",
    "Give the corrected version of this misspelled text.",
];

/// Count the words of the passage that are content words.
pub const CONTENT_WORDS: [&str; 20] = [
    "Count the number of content words in this text.",
    "How many content words does this passage contain?",
    "Determine the number of content words in this text.",
    "Report how many content words appear in the passage.",
    "Tally the content words in this text.",
    "How many words in this text are content words?",
    "Count the content words in this passage.",
    "What is the content-word count of this text?",
    "Compute the number of content words in this passage.",
    "Give the number of content words in this text.",
    "How many content words are there in this passage?",
    "Find how many content words this text has.",
    "Work out the number of content words in the passage.",
    "State how many content words this text contains.",
    "Count how many content words appear here.",
    "What is the total number of content words in this text?",
    "Calculate how many content words the passage has.",
    "Report the content-word count for this passage.",
    "Tell me how many content words are in this text.",
    "How many content words can you find in this text?",
];

/// Count the words of the passage that are stopwords.
pub const STOP_WORDS: [&str; 20] = [
    "Count the number of stopwords in this text.",
    "How many stopwords does this passage contain?",
    "Determine the number of stopwords in this text.",
    "Report how many stopwords appear in the passage.",
    "Tally the stopwords in this text.",
    "How many words in this text are stopwords?",
    "Count the stopwords in this passage.",
    "What is the stopword count of this text?",
    "Compute the number of stopwords in this passage.",
    "Give the number of stopwords in this text.",
    "How many stopwords are there in this passage?",
    "Find how many stopwords this text has.",
    "Work out the number of stopwords in the passage.",
    "State how many stopwords this text contains.",
    "Count how many stopwords appear here.",
    "What is the total number of stopwords in this text?",
    "Calculate how many stopwords the passage has.",
    "Report the stopword count for this passage.",
    "Tell me how many stopwords are in this text.",
    "How many stopwords can you find in this text?",
];

/// Count the digit characters of the passage.
pub const DIGITS: [&str; 20] = [
    "Count the number of digits in this text.",
    "How many digits does this passage contain?",
    "Determine how many digits appear in this text.",
    "Report the number of digits in the passage.",
    "Tally the digits in this text.",
    "How many numeric digits are in this passage?",
    "Count every digit character in this text.",
    "What is the digit count of this passage?",
    "Compute how many digits this text contains.",
    "Give the total number of digits in this text.",
    "How many digits are there in this passage?",
    "Find the number of digits in this text.",
    "Work out how many digits the passage has.",
    "State how many digits occur in this text.",
    "Count how many digits appear here.",
    "What is the total number of digits in this text?",
    "Calculate the number of digit characters in the passage.",
    "Report how many digits this passage contains.",
    "Tell me how many digits are in this text.",
    "How many digits can you find in this text?",
];

/// Count the punctuation marks of the passage.
pub const PUNCTUATION: [&str; 20] = [
    "Count the number of punctuation marks in this text.",
    "How many punctuation marks does this passage contain?",
    "Determine how many punctuation marks appear in this text.",
    "Report the number of punctuation marks in the passage.",
    "Tally the punctuation marks in this text.",
    "How many punctuation characters are in this passage?",
    "Count every punctuation mark in this text.",
    "What is the punctuation count of this passage?",
    "Compute how many punctuation marks this text contains.",
    "Give the total number of punctuation marks in this text.",
    "How many punctuation marks are there in this passage?",
    "Find the number of punctuation marks in this text.",
    "Work out how many punctuation marks the passage has.",
    "State how many punctuation marks occur in this text.",
    "Count how many punctuation marks appear here.",
    "What is the total number of punctuation marks in this text?",
    "Calculate the number of punctuation characters in the passage.",
    "Report how many punctuation marks this passage contains.",
    "Tell me how many punctuation marks are in this text.",
    "How many punctuation marks can you find in this text?",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const LISTS: [(&str, &[&str; 20], &str); 6] = [
        ("CHAR_COUNT", &CHAR_COUNT, "Count the number of characters."),
        ("TYPO_FIX", &TYPO_FIX, "Fix the typos in this text."),
        (
            "CONTENT_WORDS",
            &CONTENT_WORDS,
            "Count the number of content words in this text.",
        ),
        (
            "STOP_WORDS",
            &STOP_WORDS,
            "Count the number of stopwords in this text.",
        ),
        (
            "DIGITS",
            &DIGITS,
            "Count the number of digits in this text.",
        ),
        (
            "PUNCTUATION",
            &PUNCTUATION,
            "Count the number of punctuation marks in this text.",
        ),
    ];

    #[test]
    fn entry_zero_is_the_default() {
        for (name, list, default) in LISTS {
            assert_eq!(list[0], default, "{name}");
        }
    }

    #[test]
    fn entries_are_distinct_trimmed_single_lines() {
        for (name, list, _) in LISTS {
            let distinct: HashSet<&str> = list.iter().copied().collect();
            assert_eq!(distinct.len(), list.len(), "{name} has duplicates");
            for entry in list {
                assert!(!entry.is_empty(), "{name}: empty entry");
                assert_eq!(entry.trim(), *entry, "{name}: untrimmed {entry:?}");
                assert!(
                    !entry.contains(['\n', '\r']),
                    "{name}: newline in {entry:?}"
                );
            }
        }
    }
}

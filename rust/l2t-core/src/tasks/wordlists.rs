//! The word lists the tasks need, compiled into the library (with their notices in `data/`).
//!
//! - Stop words (Token Type, Last): the NLTK English list, 179 words as in the paper's era, or the
//!   198-word list of February 2025 and later. Membership is tested on `token.lower()` with
//!   punctuation kept, as the reference does.
//! - Random words (Random Word): the first lemma of every WordNet 3.0 noun, verb and adjective
//!   synset, multi-word lemmas removed, duplicates kept so that a word heading several synsets is
//!   proportionally more likely (85,122 entries).

use rustc_hash::FxHashSet;

use crate::error::{L2tError, Result};
use crate::text::pychars;

const STOPWORDS_179: &str = include_str!("../../data/stopwords-en-nltk179.txt");
const STOPWORDS_198: &str = include_str!("../../data/stopwords-en-nltk198.txt");
const WORDNET_FIRST_LEMMAS: &str = include_str!("../../data/wordnet30-first-lemmas-nva.txt");

/// A stop-word set, matched on the Python-lower-cased token.
#[derive(Clone, Debug)]
pub struct StopWords {
    words: FxHashSet<&'static str>,
}

impl StopWords {
    /// The list by size: 179 (paper) or 198 (NLTK data since February 2025).
    pub fn nltk(size: usize) -> Result<Self> {
        let text = match size {
            179 => STOPWORDS_179,
            198 => STOPWORDS_198,
            _ => {
                return Err(L2tError::Config(format!(
                    "stop-word list must be 179 or 198 words, not {size}"
                )))
            }
        };
        Ok(Self {
            words: text.lines().filter(|l| !l.is_empty()).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Python's `token.lower() in STOP`.
    pub fn contains(&self, token: &str) -> bool {
        // Every stop word is short lower-case ASCII with apostrophes; skip the allocation for
        // tokens that cannot match (long ones) and for tokens already lower-case ASCII.
        if token.len() > 16 * 4 {
            return false;
        }
        if token
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            return self.words.contains(token);
        }
        self.words.contains(pychars::lower(token).as_str())
    }
}

/// The Random Word replacement list (WordNet 3.0 first lemmas, duplicates kept).
pub fn random_words() -> Vec<&'static str> {
    WORDNET_FIRST_LEMMAS
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_their_documented_sizes() {
        assert_eq!(StopWords::nltk(179).unwrap().len(), 179);
        assert_eq!(StopWords::nltk(198).unwrap().len(), 198);
        assert!(StopWords::nltk(200).is_err());
        let words = random_words();
        assert_eq!(words.len(), 85_122);
        assert!(words.iter().all(|w| !w.contains('_') && !w.contains(' ')));
    }

    #[test]
    fn stopword_membership_lowercases_and_keeps_punctuation() {
        let s = StopWords::nltk(179).unwrap();
        assert!(s.contains("The"));
        assert!(s.contains("the"));
        assert!(!s.contains("the,"));
        assert!(s.contains("don't"));
        assert!(!s.contains("i'm"));
        assert!(StopWords::nltk(198).unwrap().contains("I'm"));
    }
}

//! The per-thread piece -> ids cache in front of the HF model.
//!
//! # Layout
//! `FxHashMap<Key, (start, len)>` into one `Vec<u32>` arena of ids. A [`Key`] keeps pieces of
//! up to 22 bytes (nearly all of them: prose pieces are ~5 bytes) inline in the table slot, so
//! a hit is one hash of the piece, one probe and a compare within the slot, then a slice of the
//! arena: no allocation and no pointer chase. A miss appends the ids to the arena.
//!
//! # Bound (memory stays bounded on web-scale corpora)
//! Entries live in two *generations*. New pieces go into the current one; when it would exceed
//! half of [`MAX_ENTRIES`] entries or half of an estimated [`MAX_BYTES`] (per entry:
//! [`ENTRY_OVERHEAD`] for the table slot and control byte at the table's load factor, the key
//! bytes if they do not fit inline, 4 bytes per id), the old generation is dropped and the
//! current one becomes old. A hit in the old generation copies the entry into the current one,
//! so every piece used since the last turn survives the next: ~64 MiB per encoder at most.
//! Turning is O(1) amortized and keeps the allocations; an LRU would cost bookkeeping on every
//! hit. Why not simply clear when full: corruption tasks (typos, masked letters) create a
//! stream of one-off pieces that fill any cache, and clearing it also drops the frequent words,
//! which then all miss at once. (Measured on the novels, the engine's speed did not change
//! beyond this machine's noise; the guarantee is what it buys.) Pieces longer than
//! [`MAX_KEY_BYTES`] are not cached at all (rare, mostly unique: URLs, hashes, unspaced
//! scripts) so they cannot flood the cache.
//!
//! # Performance notes
//! - `rustc-hash` (Fx) beats `SipHash` by ~2x on these short keys.
//! - Inline keys instead of `Box<str>`: the boxed key cost a dependent load per hit into a heap
//!   spread over megabytes (see the crate's bench for the figures).
//! - Ids in one arena rather than a `Box<[u32]>` per entry: no allocation per miss and one
//!   pointer chase less per hit.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap;

use crate::error::Result;

/// Clear the cache when it holds this many entries.
pub(crate) const MAX_ENTRIES: usize = 1 << 20;
/// Clear the cache when its estimated size reaches this many bytes.
pub(crate) const MAX_BYTES: usize = 64 << 20;
/// Pieces longer than this (in bytes) are never cached.
pub(crate) const MAX_KEY_BYTES: usize = 128;
/// Estimated bytes per entry besides out-of-line key bytes and the ids.
const ENTRY_OVERHEAD: usize = 40;
/// Longest key stored inline.
const INLINE: usize = 22;

/// A piece's bytes: inline up to [`INLINE`] bytes (zero-padded), boxed beyond. Hashes and
/// compares as its `[u8]`, so the map can be probed with `&[u8]`.
#[derive(Debug, Clone)]
enum Key {
    Inline(u8, [u8; INLINE]),
    Boxed(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Self::Inline(bytes.len() as u8, inline)
        } else {
            Self::Boxed(bytes.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Self::Boxed(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

/// One generation: a map from piece to a range of its arena of ids.
#[derive(Debug, Default)]
struct Generation {
    map: FxHashMap<Key, (u32, u32)>,
    ids: Vec<u32>,
    bytes: usize,
}

impl Generation {
    /// Where the ids of `piece` sit in the arena. An owned range rather than a slice, so the
    /// caller's borrow of the generation ends with the lookup (NLL cannot yet end a returned
    /// borrow on one branch only).
    fn range(&self, piece: &[u8]) -> Option<std::ops::Range<usize>> {
        let &(start, len) = self.map.get(piece)?;
        let start = start as usize;
        Some(start..start + len as usize)
    }

    fn insert(&mut self, piece: &[u8], ids: &[u32], cost: usize) -> &[u32] {
        let start = self.ids.len();
        self.ids.extend_from_slice(ids);
        self.map
            .insert(Key::new(piece), (start as u32, ids.len() as u32));
        self.bytes += cost;
        &self.ids[start..]
    }

    fn clear(&mut self) {
        self.map.clear();
        self.ids.clear();
        self.bytes = 0;
    }
}

/// A bounded map from a piece (as the segmenter produced it) to the model's ids.
#[derive(Debug)]
pub(crate) struct WordCache {
    current: Generation,
    old: Generation,
    /// Limits of one generation.
    max_entries: usize,
    max_bytes: usize,
    /// Ids of the last uncached (too long) piece.
    scratch: Vec<u32>,
}

impl Default for WordCache {
    fn default() -> Self {
        Self::with_limits(MAX_ENTRIES, MAX_BYTES)
    }
}

impl WordCache {
    /// A cache of at most `max_entries` entries and `max_bytes` estimated bytes in all.
    pub(crate) fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            current: Generation::default(),
            old: Generation::default(),
            max_entries: (max_entries / 2).max(1),
            max_bytes: max_bytes / 2,
            scratch: Vec::new(),
        }
    }

    /// The ids of `piece`, computing them with `compute` on a miss. `compute` may use the cache
    /// itself (for sub-pieces; it may even turn a generation).
    #[inline]
    pub(crate) fn get_or_compute(
        &mut self,
        piece: &str,
        compute: impl FnOnce(&mut Self, &str) -> Result<Vec<u32>>,
    ) -> Result<&[u32]> {
        let key = piece.as_bytes();
        // The hit path: one hash and one probe.
        if let Some(range) = self.current.range(key) {
            return Ok(&self.current.ids[range]);
        }
        let ids = match self.old.range(key) {
            Some(range) => self.old.ids[range].to_vec(),
            None => compute(self, piece)?,
        };
        if piece.len() > MAX_KEY_BYTES {
            self.scratch = ids;
            return Ok(&self.scratch);
        }
        let out_of_line = if piece.len() > INLINE { piece.len() } else { 0 };
        let cost = ENTRY_OVERHEAD + out_of_line + 4 * ids.len();
        if self.current.map.len() >= self.max_entries || self.current.bytes + cost > self.max_bytes
        {
            std::mem::swap(&mut self.current, &mut self.old);
            self.current.clear();
        }
        Ok(self.current.insert(key, &ids, cost))
    }

    /// Number of cached pieces (both generations; a piece can be in both).
    pub(crate) fn len(&self) -> usize {
        self.current.map.len() + self.old.map.len()
    }

    /// Estimated bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.current.bytes + self.old.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_miss_and_long_keys() {
        let mut cache = WordCache::default();
        let mut calls = 0;
        let mut get = |cache: &mut WordCache, piece: &str| {
            cache
                .get_or_compute(piece, |_, p| {
                    calls += 1;
                    Ok(vec![p.len() as u32; 2])
                })
                .unwrap()
                .to_vec()
        };
        assert_eq!(get(&mut cache, "abc"), [3, 3]);
        assert_eq!(get(&mut cache, "abc"), [3, 3]);
        assert_eq!(get(&mut cache, "de"), [2, 2]);
        let mid = "y".repeat(INLINE + 1);
        assert_eq!(get(&mut cache, &mid), [23, 23]);
        assert_eq!(get(&mut cache, &mid), [23, 23]);
        assert_eq!(get(&mut cache, &mid[1..]), [22, 22]);
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(get(&mut cache, &long), [129, 129]);
        assert_eq!(get(&mut cache, &long), [129, 129]);
        assert_eq!(cache.len(), 4);
        assert_eq!(calls, 6);
    }

    #[test]
    fn inline_keys_fit_a_slot() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        assert_eq!(Key::new(b"abc"), Key::new(b"abc"));
        assert_ne!(Key::new(b"abc"), Key::new(b"abc\0"));
    }

    #[test]
    fn stays_bounded_when_full() {
        let mut cache = WordCache::with_limits(100, 1 << 20);
        for i in 0..1000 {
            let key = i.to_string();
            let ids = cache.get_or_compute(&key, |_, _| Ok(vec![i])).unwrap();
            assert_eq!(ids, [i]);
            assert!(cache.len() <= 100);
        }
        let mut small = WordCache::with_limits(1 << 20, 1000);
        for i in 0..1000 {
            let ids = small
                .get_or_compute(&i.to_string(), |_, _| Ok(vec![i; 3]))
                .unwrap();
            assert_eq!(ids, [i; 3]);
            assert!(small.bytes() <= 1000);
        }
    }

    #[test]
    fn pieces_in_use_survive_a_turn() {
        let mut cache = WordCache::with_limits(20, 1 << 20);
        let mut misses = 0;
        for i in 0..1000u32 {
            // "the" comes back every few pieces while one-off pieces stream past it.
            for piece in ["the".to_owned(), format!("x{i}")] {
                cache
                    .get_or_compute(&piece, |_, _| {
                        misses += u32::from(piece == "the");
                        Ok(vec![1])
                    })
                    .unwrap();
            }
        }
        assert_eq!(misses, 1);
    }
}

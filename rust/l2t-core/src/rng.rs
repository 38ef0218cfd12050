//! A counter-based random stream keyed by (seed, unit, purpose).
//!
//! Determinism is by construction: every random decision draws from a stream whose key names *what*
//! is being decided (the purpose) and *for which unit* (a document index, a packing batch, ...), never
//! from a generator shared across units. Output therefore cannot depend on thread count, batch size,
//! worker count or resume point: the stream for document 17's task choice is the same whichever
//! thread handles it and whatever ran before.
//!
//! The generator is SplitMix64 (Steele, Lea, Flood 2014): the n-th output is a bijective mix of
//! `key + n * GAMMA`, so it is counter-based (any position is addressable) and passes BigCrush for
//! this use. Keys are mixed from their parts with the same finaliser, so neighbouring documents get
//! unrelated streams.
//!
//! The draw helpers mirror the Python `random` calls the L2T reference makes (`choice`, `sample`,
//! `shuffle`, `uniform`, `random() < p`) *in distribution*; the reference is unseeded, so no exact
//! stream can or needs to be matched.

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// What a stream decides. Distinct purposes of the same unit give independent streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Which task a document gets.
    TaskChoice = 1,
    /// The task's own draws (positions, masks, replacements, ...), across all chunks of a document.
    Transform = 2,
    /// The anchor that joins prompt and completion, per example.
    Anchor = 3,
    /// The order of packs produced by one packing batch.
    PackOrder = 4,
    /// Which documents of a mixing block become raw (next-token) text.
    MixSplit = 5,
    /// The order of rows in an output batch.
    RowOrder = 6,
}

/// SplitMix64's output finaliser: a bijection on u64 with full avalanche.
#[inline]
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random stream; cheap to create (three multiplications), so make one per decision unit.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The stream for `purpose` of `unit` (a document index, a batch index, ...) under `seed`.
    pub fn new(seed: u64, unit: u64, purpose: Purpose) -> Self {
        let key = mix64(mix64(mix64(seed ^ GAMMA) ^ unit) ^ (purpose as u64).wrapping_mul(GAMMA));
        Self { state: key }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// A uniform double in [0, 1) with 53 random bits, like Python's `random.random()`.
    #[inline]
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform double in [a, b), like Python's `random.uniform(a, b)`.
    #[inline]
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// True with probability `p`.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.random() < p
    }

    /// A uniform integer in [0, n); 0 when `n == 0`. Unbiased (Lemire's multiply-and-reject).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let n = n as u64;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// A uniformly chosen element, like `random.choice`; `None` for an empty slice.
    #[inline]
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }

    /// Fisher–Yates shuffle: every permutation equally likely, like `random.shuffle`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `k` distinct indices of `0..n` in random order, like `random.sample(range(n), k)`.
    /// `k` is clamped to `n`. Uses a partial Fisher–Yates over the index range, or rejection
    /// sampling when `k` is small against `n` (as CPython does), so the cost is O(k) then.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        if k * 8 < n {
            let mut seen = rustc_hash::FxHashSet::default();
            let mut out = Vec::with_capacity(k);
            while out.len() < k {
                let i = self.below(n);
                if seen.insert(i) {
                    out.push(i);
                }
            }
            return out;
        }
        let mut pool: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_keyed() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7, 3, Purpose::Transform);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7, 3, Purpose::Transform);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        for other in [
            Rng::new(8, 3, Purpose::Transform),
            Rng::new(7, 4, Purpose::Transform),
            Rng::new(7, 3, Purpose::Anchor),
        ] {
            let mut other = other;
            assert_ne!(a[0], other.next_u64());
        }
    }

    #[test]
    fn below_is_uniform_enough() {
        let mut r = Rng::new(1, 1, Purpose::Transform);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[r.below(7)] += 1;
        }
        // Each bucket expects 10_000; 5 standard deviations is about 470.
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn sample_gives_distinct_indices_in_range() {
        let mut r = Rng::new(2, 0, Purpose::Transform);
        for (n, k) in [(10, 3), (10, 10), (1000, 5), (5, 9), (0, 2)] {
            let s = r.sample(n, k);
            assert_eq!(s.len(), k.min(n));
            let mut d = s.clone();
            d.sort_unstable();
            d.dedup();
            assert_eq!(d.len(), s.len());
            assert!(s.iter().all(|&i| i < n));
        }
    }

    #[test]
    fn random_is_in_unit_interval() {
        let mut r = Rng::new(3, 0, Purpose::Anchor);
        for _ in 0..10_000 {
            let x = r.random();
            assert!((0.0..1.0).contains(&x));
            let u = r.uniform(0.03, 0.08);
            assert!((0.03..0.08).contains(&u));
        }
    }
}

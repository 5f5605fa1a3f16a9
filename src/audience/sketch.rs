//! Pure: counting distinct pollers in bounded memory, whatever the traffic.
//!
//! [`Distinct`] holds the (keyed, 64-bit) hashes of the pollers seen, exactly,
//! up to [`EXACT_MAX`] of them; past that it becomes a HyperLogLog sketch
//! (Flajolet, Fusy, Gandouet, Meunier, 2007) of 2^[`P`] one-byte registers:
//! 1 KiB, a standard error of about 3.3 % (1.04 / 32), and the small-range
//! correction (linear counting) below 2.5 × 1024. So a feed with a hundred
//! pollers gets their exact number, and a flood of random user agents costs
//! 1 KiB per feed and format, not one entry per agent.
//!
//! Why this and not a capped set: a capped set stops counting at its cap,
//! and a flood fills it; the sketch keeps estimating, and two sketches
//! merge (the register-wise maximum), which is how the counts of the
//! server's worker threads, and of a feed's formats, are put together.
//! A sketch only merges with one made under the same key: the key changes
//! every UTC day and at every start (`tally.rs`), and so sketches are kept
//! in memory only, never stored.

/// log2 of the number of registers.
pub(crate) const P: u32 = 10;

const M: usize = 1 << P;

/// The most hashes kept exactly before switching to registers (as many
/// bytes as the registers take).
pub(crate) const EXACT_MAX: usize = M / 8;

/// A set of pollers' hashes: exact while small, a HyperLogLog sketch beyond.
#[derive(Debug, Clone, Default)]
pub(crate) struct Distinct {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Exact(Vec<u64>),
    Registers(Box<[u8; M]>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Exact(Vec::new())
    }
}

impl Distinct {
    /// Adds the poller whose keyed hash is `hash`.
    pub(crate) fn insert(&mut self, hash: u64) {
        match &mut self.repr {
            Repr::Exact(hashes) => {
                if hashes.contains(&hash) {
                    return;
                }
                if hashes.len() < EXACT_MAX {
                    hashes.push(hash);
                    return;
                }
                let mut registers = Box::new([0u8; M]);
                for &old in hashes.iter() {
                    update(&mut registers, old);
                }
                update(&mut registers, hash);
                self.repr = Repr::Registers(registers);
            }
            Repr::Registers(registers) => update(registers, hash),
        }
    }

    /// Adds every poller of `other` (made under the same key).
    pub(crate) fn merge(&mut self, other: &Distinct) {
        match &other.repr {
            Repr::Exact(hashes) => {
                for &hash in hashes {
                    self.insert(hash);
                }
            }
            Repr::Registers(theirs) => {
                if let Repr::Exact(hashes) = &self.repr {
                    let mut registers = Box::new([0u8; M]);
                    for &hash in hashes {
                        update(&mut registers, hash);
                    }
                    self.repr = Repr::Registers(registers);
                }
                if let Repr::Registers(ours) = &mut self.repr {
                    for (ours, theirs) in ours.iter_mut().zip(theirs.iter()) {
                        *ours = (*ours).max(*theirs);
                    }
                }
            }
        }
    }

    /// How many distinct pollers: exact up to [`EXACT_MAX`], estimated beyond.
    pub(crate) fn count(&self) -> u64 {
        match &self.repr {
            Repr::Exact(hashes) => hashes.len() as u64,
            Repr::Registers(registers) => estimate(registers),
        }
    }

    /// The heap memory it holds, in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Exact(hashes) => hashes.capacity() * 8,
            Repr::Registers(_) => M,
        }
    }
}

fn update(registers: &mut [u8; M], hash: u64) {
    let index = (hash >> (64 - P)) as usize;
    // The bits after the index, with a guard bit so the rank is at most 64 - P + 1.
    let rest = (hash << P) | (1 << (P - 1));
    let rank = rest.leading_zeros() as u8 + 1;
    if registers[index] < rank {
        registers[index] = rank;
    }
}

fn estimate(registers: &[u8; M]) -> u64 {
    let m = M as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let mut sum = 0.0;
    let mut zeros = 0usize;
    for &r in registers.iter() {
        sum += 1.0 / f64::from(1u32 << r.min(31));
        if r == 0 {
            zeros += 1;
        }
    }
    let raw = alpha * m * m / sum;
    let value = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    value.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-mixed 64-bit hashes of 0, 1, 2, … (splitmix64).
    fn hash(i: u64) -> u64 {
        let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn small_sets_are_exact_and_repeats_count_once() {
        let mut d = Distinct::default();
        assert_eq!(d.count(), 0);
        for round in 0..3 {
            for i in 0..EXACT_MAX as u64 {
                d.insert(hash(i));
            }
            assert_eq!(d.count(), EXACT_MAX as u64, "round {round}");
        }
    }

    #[test]
    fn large_sets_are_estimated_within_a_few_percent_in_bounded_memory() {
        for n in [1_000u64, 10_000, 100_000] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.insert(hash(i));
                d.insert(hash(i));
            }
            let error = (d.count() as f64 - n as f64).abs() / n as f64;
            assert!(error < 0.08, "{n}: estimated {}", d.count());
            assert_eq!(d.heap_bytes(), M);
        }
    }

    #[test]
    fn merging_counts_the_union() {
        let (mut a, mut b) = (Distinct::default(), Distinct::default());
        for i in 0..60 {
            a.insert(hash(i));
        }
        for i in 30..100 {
            b.insert(hash(i));
        }
        let mut union = a.clone();
        union.merge(&b);
        assert_eq!(union.count(), 100);
        // Past the exact range, on either side.
        let mut big = Distinct::default();
        for i in 0..5_000 {
            big.insert(hash(i));
        }
        let mut small = a.clone();
        small.merge(&big);
        big.merge(&a);
        assert_eq!(small.count(), big.count());
        let error = (big.count() as f64 - 5_000.0).abs() / 5_000.0;
        assert!(error < 0.08, "{}", big.count());
    }
}

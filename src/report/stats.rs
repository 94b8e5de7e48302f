//! The statistics `compare` needs, pure: 95 % intervals for the difference
//! between two sides ("after" minus "before").
//!
//! - A rate (failed calls per call): Newcombe's hybrid score interval for a
//!   difference of proportions (his method 10, 1998), built from the Wilson
//!   score interval of each side. It stays inside [-1, 1] and behaves with
//!   rates near 0, where the textbook normal interval does not.
//! - A ratio of sums over sessions (cost per turn, calls per turn, mean turn
//!   time): a percentile bootstrap that resamples whole sessions, since
//!   turns of one session are not independent of each other. Seeded, so the
//!   same data always gives the same interval.

/// z for a two-sided 95 % interval.
const Z: f64 = 1.959_963_984_540_054;
/// Bootstrap resamples: the interval's ends move by well under a percent of
/// its width from one seed to another at this count.
const RESAMPLES: usize = 2000;
/// The bootstrap's seed: any fixed value; fixed so a report does not change
/// from one run to the next.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// A difference and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Whether the interval leaves 0 out: a difference chance alone would
    /// rarely make.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// `k2/n2 - k1/n1` with Newcombe's hybrid score interval.
pub fn proportion_difference((k1, n1): (u64, u64), (k2, n2): (u64, u64)) -> Interval {
    let p = |k: u64, n: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let (p1, p2) = (p(k1, n1), p(k2, n2));
    let (l1, u1) = wilson(k1, n1);
    let (l2, u2) = wilson(k2, n2);
    let difference = p2 - p1;
    let low = difference - ((p2 - l2).powi(2) + (u1 - p1).powi(2)).sqrt();
    let high = difference + ((u2 - p2).powi(2) + (p1 - l1).powi(2)).sqrt();
    Interval { difference, low, high }
}

/// The ratio of sums of `(numerator, denominator)` pairs (one per session):
/// `None` when the denominators add up to 0.
pub fn ratio(pairs: &[(f64, f64)]) -> Option<f64> {
    let (num, den) = pairs.iter().fold((0.0, 0.0), |(n, d), &(a, b)| (n + a, d + b));
    (den > 0.0).then(|| num / den)
}

/// `ratio(after) - ratio(before)` with a percentile bootstrap interval over
/// sessions. `None` when either side has no denominator at all.
pub fn ratio_difference(before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<Interval> {
    let difference = ratio(after)? - ratio(before)?;
    // Sessions arrive in whatever order the threads that read them finished:
    // sorted, the same sessions always give the same interval.
    let (before, after) = (sorted(before), sorted(after));
    let (before, after) = (before.as_slice(), after.as_slice());
    let mut rng = Rng(SEED);
    let mut draws = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        // A resample whose sessions have no denominator has no ratio: skipped.
        if let (Some(b), Some(a)) = (resampled_ratio(before, &mut rng), resampled_ratio(after, &mut rng)) {
            draws.push(a - b);
        }
    }
    draws.sort_by(f64::total_cmp);
    Some(Interval { difference, low: quantile(&draws, 0.025)?, high: quantile(&draws, 0.975)? })
}

fn sorted(pairs: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sorted
}

fn resampled_ratio(pairs: &[(f64, f64)], rng: &mut Rng) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for _ in 0..pairs.len() {
        let (a, b) = pairs[rng.below(pairs.len())];
        num += a;
        den += b;
    }
    (den > 0.0).then(|| num / den)
}

/// The `q` quantile of sorted values, interpolated between neighbours.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let at = q * last as f64;
    let (below, above) = (at.floor() as usize, at.ceil() as usize);
    Some(sorted[below] + (sorted[above] - sorted[below]) * (at - below as f64))
}

/// xorshift64*: small, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        // The high bits are the good ones; the modulo bias at session counts is negligible.
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 and 15/148.
        let (l, u) = wilson(81, 263);
        assert!(close(l, 0.2553, 5e-5) && close(u, 0.3662, 5e-5), "{l} {u}");
        let (l, u) = wilson(15, 148);
        assert!(close(l, 0.0624, 5e-5) && close(u, 0.1605, 5e-5), "{l} {u}");
        assert!(close(wilson(0, 10).0, 0.0, 1e-12) && close(wilson(10, 10).1, 1.0, 1e-12));
    }

    #[test]
    fn newcombe_matches_published_values() {
        // Newcombe (1998), Statistics in Medicine 17:873, table II, method 10:
        // 56/70 against 48/80 gives 0.0524 to 0.3339 for p1 - p2.
        let i = proportion_difference((48, 80), (56, 70));
        assert!(close(i.difference, 0.2, 1e-12));
        assert!(close(i.low, 0.0524, 5e-5) && close(i.high, 0.3339, 5e-5), "{i:?}");
        // 9/10 against 3/10: 0.1705 to 0.8090.
        let i = proportion_difference((3, 10), (9, 10));
        assert!(close(i.low, 0.1705, 5e-5) && close(i.high, 0.8090, 5e-5), "{i:?}");
        // The same rate on both sides: 0 inside, the interval symmetric.
        let same = proportion_difference((20, 100), (20, 100));
        assert!(!same.excludes_zero() && close(same.low, -same.high, 1e-12));
    }

    #[test]
    fn the_bootstrap_is_deterministic_and_finds_a_real_difference() {
        let before: Vec<(f64, f64)> = (0..40).map(|i| (f64::from(10 + i % 5), 5.0)).collect();
        let shifted: Vec<(f64, f64)> = before.iter().map(|&(a, b)| (a + 5.0, b)).collect();
        let i = ratio_difference(&before, &shifted).unwrap();
        assert_eq!(Some(i), ratio_difference(&before, &shifted), "same data, same interval");
        let reversed: Vec<(f64, f64)> = shifted.iter().rev().copied().collect();
        assert_eq!(Some(i), ratio_difference(&before, &reversed), "in any order");
        assert!(close(i.difference, 1.0, 1e-12));
        assert!(i.excludes_zero() && i.low < 1.0 && 1.0 < i.high, "{i:?}");
        let none = ratio_difference(&before, &before).unwrap();
        assert!(!none.excludes_zero() && none.difference == 0.0, "{none:?}");
        assert!(ratio_difference(&before, &[(1.0, 0.0)]).is_none(), "no denominator, no ratio");
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile(&v, 0.5), Some(20.0));
        assert_eq!(quantile(&v, 0.125), Some(5.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}

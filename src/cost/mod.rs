//! What one model response cost, in integer micro-USD (docs/tokens-and-cost.md).
//!
//! `prices` holds the table: a trimmed snapshot of LiteLLM's price file compiled
//! into the binary (parsed on first use, so only turn ends that price a response
//! pay for it) with the user's `$KAIZEN_HOME/prices.json` over it. This file holds
//! one model's rates and the arithmetic.
//!
//! Exact arithmetic: LiteLLM's rates are USD per token as decimals (`3.75e-06`);
//! each is held as a whole number of pico-USD (1e-12 USD) per token, which every
//! rate in the snapshot is (the refresh script checks). A response's cost is the
//! exact sum in `u128` pico-USD, rounded half up once to micro-USD. Sums of the
//! integer per-response figures are then exact at any scale.

mod prices;

pub use prices::{Prices, REVISION};

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Token figures of one model response, each counted once: `input` excludes
/// cache reads and writes, `output` includes reasoning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens neither read from nor written to a cache.
    pub input: u64,
    /// All billed output, reasoning included.
    pub output: u64,
    pub cache_read: u64,
    /// All cache writes (5-minute and 1-hour).
    pub cache_write: u64,
    /// The 1-hour part of `cache_write` (Claude's
    /// `usage.cache_creation.ephemeral_1h_input_tokens`); capped at `cache_write`.
    pub cache_write_1h: u64,
}

impl Tokens {
    /// From a prompt count that includes its cache reads and writes (OpenAI's
    /// convention, which most agents keep): the uncached input is the rest.
    pub fn of_prompt(prompt: u64, cache_read: u64, cache_write: u64, output: u64) -> Tokens {
        let input = prompt.saturating_sub(cache_read.saturating_add(cache_write));
        Tokens { input, output, cache_read, cache_write, cache_write_1h: 0 }
    }

    /// The request's prompt, which decides its long-context tier.
    pub fn prompt(&self) -> u64 {
        self.input.saturating_add(self.cache_read).saturating_add(self.cache_write)
    }
}

/// Rates in pico-USD per token; `None` where the price file lists none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub cache_write_1h: Option<u64>,
}

impl Rates {
    /// `self` with every rate `over` lists put in its place.
    fn overlaid(self, over: &Rates) -> Rates {
        Rates {
            input: over.input.or(self.input),
            output: over.output.or(self.output),
            cache_read: over.cache_read.or(self.cache_read),
            cache_write: over.cache_write.or(self.cache_write),
            cache_write_1h: over.cache_write_1h.or(self.cache_write_1h),
        }
    }

    fn slot(&mut self, kind: &str) -> Option<&mut Option<u64>> {
        match kind {
            "input_cost_per_token" => Some(&mut self.input),
            "output_cost_per_token" => Some(&mut self.output),
            "cache_read_input_token_cost" => Some(&mut self.cache_read),
            "cache_creation_input_token_cost" => Some(&mut self.cache_write),
            "cache_creation_input_token_cost_above_1hr" => Some(&mut self.cache_write_1h),
            _ => None,
        }
    }
}

/// One model's rates, from the snapshot or the user's override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The standard rates; input and output are always there.
    pub base: Rates,
    /// Long-context tiers: prompt tokens a request must exceed → the rates
    /// listed for above that.
    pub tiers: BTreeMap<u64, Rates>,
    /// The model's context window (`max_input_tokens`), for `context_max_tokens`.
    pub context_max: Option<u64>,
}

impl Price {
    /// Reads LiteLLM's fields for one model; fields it does not price (batch,
    /// flex, priority, audio, …) and values that are not rates are skipped.
    /// `None` without an input and an output rate: such a model has no price.
    pub fn from_fields(fields: &Map<String, Value>) -> Option<Price> {
        let mut base = Rates::default();
        let mut tiers = BTreeMap::new();
        for (key, value) in fields {
            let (Some((kind, threshold)), Some(rate)) = (split_field(key), pico_usd(value)) else { continue };
            let rates = match threshold {
                None => &mut base,
                Some(t) => tiers.entry(t).or_default(),
            };
            if let Some(slot) = rates.slot(kind) {
                *slot = Some(rate);
            }
        }
        base.input?;
        base.output?;
        let context_max = fields.get("max_input_tokens").and_then(Value::as_u64);
        Some(Price { base, tiers, context_max })
    }

    /// Micro-USD for one response; `None` only if the figure does not fit an `i64`.
    pub fn cost_usd_e6(&self, tokens: &Tokens) -> Option<i64> {
        let r = self.rates_at(tokens.prompt())?;
        let one_hour = tokens.cache_write_1h.min(tokens.cache_write);
        let terms = [
            (tokens.input, r.input),
            (tokens.output, r.output),
            (tokens.cache_read, r.cache_read),
            (tokens.cache_write - one_hour, r.cache_write),
            (one_hour, r.cache_write_1h),
        ];
        let pico = terms.iter().try_fold(0u128, |sum, &(n, rate)| sum.checked_add(u128::from(n) * u128::from(rate)))?;
        i64::try_from(pico.checked_add(500_000)? / 1_000_000).ok()
    }

    /// The rates a request with `prompt` tokens pays: every tier it exceeds,
    /// lowest first, overrides what it lists (the whole request at the tier's
    /// rates, LiteLLM's rule); a cache rate not listed is the input rate (what
    /// a provider with no cache price bills) and a 1-hour write rate not listed
    /// is the write rate.
    fn rates_at(&self, prompt: u64) -> Option<Resolved> {
        let r = self.tiers.range(..prompt).fold(self.base, |r, (_, tier)| r.overlaid(tier));
        let input = r.input?;
        let cache_write = r.cache_write.unwrap_or(input);
        Some(Resolved {
            input,
            output: r.output?,
            cache_read: r.cache_read.unwrap_or(input),
            cache_write,
            cache_write_1h: r.cache_write_1h.unwrap_or(cache_write),
        })
    }
}

/// Every rate a response needs, after tiers and fallbacks.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    cache_write_1h: u64,
}

/// The LiteLLM fields that price a response; `_above_1hr` is part of a kind, not a tier.
const KINDS: [&str; 5] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
];

/// `input_cost_per_token_above_272k_tokens` → (`input_cost_per_token`, Some(272000));
/// `None` for a field that does not price a response (batch, flex, audio, …).
fn split_field(key: &str) -> Option<(&str, Option<u64>)> {
    let (kind, threshold) = match key.rsplit_once("_above_") {
        Some((kind, size)) if size.ends_with("_tokens") => (kind, Some(tokens_of(size.strip_suffix("_tokens")?)?)),
        _ => (key, None),
    };
    KINDS.contains(&kind).then_some((kind, threshold))
}

/// `272k` → 272000, `128` → 128 (LiteLLM's k is a thousand).
fn tokens_of(size: &str) -> Option<u64> {
    let (digits, scale) = match size.strip_suffix('k') {
        Some(d) => (d, 1000),
        None => (size, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// Above this a "rate" is nonsense (a million USD per token): skipped.
const MAX_PICO_USD: f64 = 1e18;

/// A USD-per-token rate as whole pico-USD per token (rounded to the nearest one).
fn pico_usd(value: &Value) -> Option<u64> {
    let usd = value.as_f64()?;
    let pico = (usd * 1e12).round();
    (usd.is_finite() && usd >= 0.0 && pico <= MAX_PICO_USD).then_some(pico as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_prompt_count_holds_its_cache_reads_and_writes() {
        let tokens = Tokens::of_prompt(1000, 300, 200, 50);
        assert_eq!((tokens.input, tokens.cache_read, tokens.cache_write, tokens.output), (500, 300, 200, 50));
        assert_eq!(tokens.prompt(), 1000);
        assert_eq!(Tokens::of_prompt(10, 30, 0, 0).input, 0, "a provider's inconsistent figures do not wrap");
    }

    fn price(v: Value) -> Price {
        Price::from_fields(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn fields_split_into_kind_and_tier() {
        assert_eq!(split_field("input_cost_per_token"), Some(("input_cost_per_token", None)));
        assert_eq!(
            split_field("output_cost_per_token_above_272k_tokens"),
            Some(("output_cost_per_token", Some(272_000)))
        );
        assert_eq!(split_field("input_cost_per_token_above_128_tokens"), Some(("input_cost_per_token", Some(128))));
        assert_eq!(
            split_field("cache_creation_input_token_cost_above_1hr"),
            Some(("cache_creation_input_token_cost_above_1hr", None))
        );
        assert_eq!(
            split_field("cache_creation_input_token_cost_above_1hr_above_100k_tokens"),
            Some(("cache_creation_input_token_cost_above_1hr", Some(100_000)))
        );
        assert_eq!(split_field("input_cost_per_token_above_-1k_tokens"), None);
        assert_eq!(split_field("input_cost_per_token_batches"), None);
        assert_eq!(split_field("input_cost_per_audio_token_above_200k_tokens"), None);
        assert_eq!(split_field("cache_creation_input_token_cost_above_12hr"), None);
    }

    #[test]
    fn decimal_rates_become_exact_pico_usd() {
        assert_eq!(pico_usd(&json!(3.75e-06)), Some(3_750_000));
        assert_eq!(pico_usd(&json!(7.5e-08)), Some(75_000));
        assert_eq!(pico_usd(&json!(1.875e-06)), Some(1_875_000));
        assert_eq!(pico_usd(&json!(0)), Some(0));
        assert_eq!(pico_usd(&json!(-1e-06)), None);
        assert_eq!(pico_usd(&json!("1e-06")), None);
        assert_eq!(pico_usd(&json!(1e9)), None);
    }

    #[test]
    fn no_input_or_output_rate_is_no_price() {
        assert_eq!(Price::from_fields(json!({"input_cost_per_token": 1e-06}).as_object().unwrap()), None);
        assert_eq!(Price::from_fields(json!({"output_cost_per_token": "x"}).as_object().unwrap()), None);
    }

    #[test]
    fn rounding_is_half_up_once_per_response() {
        let p = price(json!({"input_cost_per_token": 1e-12, "output_cost_per_token": 0}));
        let cost = |input| p.cost_usd_e6(&Tokens { input, ..Tokens::default() });
        assert_eq!(cost(499_999), Some(0));
        assert_eq!(cost(500_000), Some(1)); // exactly half a micro-USD
        assert_eq!(cost(1_499_999), Some(1));
        assert_eq!(cost(1_500_000), Some(2));
        // 3 × 0.4 µUSD: 1 µUSD when summed before rounding, 0 if each term were rounded.
        let q = price(json!({"input_cost_per_token": 4e-07, "output_cost_per_token": 4e-07,
            "cache_read_input_token_cost": 4e-07}));
        assert_eq!(q.cost_usd_e6(&Tokens { input: 1, output: 1, cache_read: 1, ..Tokens::default() }), Some(1));
    }

    #[test]
    fn cache_rates_fall_back_to_input_and_1h_to_the_write_rate() {
        let p = price(json!({"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06}));
        let t = Tokens { cache_read: 1_000_000, cache_write: 1_000_000, cache_write_1h: 400_000, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6(&t), Some(4_000_000)); // all 2M at the input rate, $2/M
        let q = price(json!({"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
            "cache_creation_input_token_cost": 2.5e-06}));
        assert_eq!(q.cost_usd_e6(&t), Some(4_500_000)); // reads $2/M, both writes $2.5/M
    }

    #[test]
    fn a_1h_part_larger_than_the_writes_is_capped() {
        let p = price(json!({"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06,
            "cache_creation_input_token_cost": 1e-06, "cache_creation_input_token_cost_above_1hr": 2e-06}));
        let t = Tokens { cache_write: 10, cache_write_1h: 1_000_000, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6(&t), Some(20)); // all 10 at the 1-hour $2/M, never a negative 5-minute part
        let t = Tokens { cache_write: 1_000_000, cache_write_1h: u64::MAX, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6(&t), Some(2_000_000));
    }

    #[test]
    fn tiers_stack_lowest_first_and_threshold_is_exclusive() {
        let p = price(json!({
            "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
            "input_cost_per_token_above_1k_tokens": 3e-06,
            "output_cost_per_token_above_2k_tokens": 5e-06,
        }));
        let at = |input| p.cost_usd_e6(&Tokens { input, output: 1_000_000, ..Tokens::default() });
        assert_eq!(at(1000), Some(1000 + 2_000_000)); // at the threshold: still base
        assert_eq!(at(1001), Some(3003 + 2_000_000)); // above 1k: tier input, base output
        assert_eq!(at(2001), Some(6003 + 5_000_000)); // above 2k: 1k tier's input, 2k tier's output
    }

    #[test]
    fn huge_figures_never_wrap() {
        let p = price(json!({"input_cost_per_token": 1e-03, "output_cost_per_token": 1e-03}));
        let t = Tokens { input: u64::MAX, output: u64::MAX, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6(&t), None); // beyond i64 micro-USD: no figure rather than a wrong one
        let t = Tokens { input: 4_000_000_000, ..Tokens::default() }; // past u32
        assert_eq!(p.cost_usd_e6(&t), Some(4_000_000_000_000));
    }
}

//! The price table: LiteLLM's snapshot (`prices.json`, refreshed by
//! `scripts/refresh-prices.py`) compiled in, with `$KAIZEN_HOME/prices.json`
//! over it. Both have LiteLLM's shape, a model → fields map; keys starting with
//! `_` are the file's own (`_revision`, `_source`, `_license`, `_aliases`).
//!
//! The override is a JSON merge patch (RFC 7396) on the snapshot, field by
//! field: a model it names gets the fields it gives in place of the snapshot's
//! and keeps the rest; `null` removes a field, or a whole model (which then has
//! no price). A model the snapshot lacks needs an input and an output rate.

use super::{Price, Tokens};
use crate::hash;
use crate::store::fsutil::{self, End};
use serde_json::{Map, Value};
use std::io;
use std::path::Path;
use std::sync::OnceLock;

const SNAPSHOT: &str = include_str!("prices.json");

/// The snapshot's revision (LiteLLM version and the source file's sha256),
/// recorded with every cost; read from the snapshot at compile time.
pub const REVISION: &str = revision_of(SNAPSHOT);

/// The user's override, in `$KAIZEN_HOME`.
pub const OVERRIDE_FILE: &str = "prices.json";

/// LiteLLM's whole file is 3.5 MB; a copy of it must still load.
const OVERRIDE_LIMIT: u64 = 16 << 20;

/// Provider prefixes a model name may carry; stripped once, then matched exactly.
const PREFIXES: [&str; 4] = ["anthropic/", "openai/", "gemini/", "models/"];

type Table = Map<String, Value>;

/// The shipped snapshot + the user's overrides.
#[derive(Debug, Default)]
pub struct Prices {
    overrides: Table,
    /// FNV-64 of the override file in effect, for the revision.
    override_hash: Option<String>,
    note: Option<String>,
}

impl Prices {
    /// Never fails: a missing override is none, a bad one is ignored in part
    /// or in whole, and `note` says what and why (for the log).
    pub fn load(kaizen_home: &Path) -> Prices {
        let path = kaizen_home.join(OVERRIDE_FILE);
        match read_override(&path) {
            Ok(None) => Prices::default(),
            Ok(Some((mut overrides, hash))) => {
                let skipped = sanitize(&mut overrides);
                let note = (!skipped.is_empty())
                    .then(|| format!("{}: skipped (not a price) {}", path.display(), listed(&skipped)));
                Prices { overrides, override_hash: Some(hash), note }
            }
            Err(why) => Prices { note: Some(format!("{}: ignored: {why}", path.display())), ..Prices::default() },
        }
    }

    /// What was wrong with the override file, if anything.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The prices in effect: `REVISION`, plus the override file's hash when there is one.
    pub fn revision(&self) -> String {
        match &self.override_hash {
            Some(h) => format!("{REVISION} + {OVERRIDE_FILE} fnv:{h}"),
            None => REVISION.to_string(),
        }
    }

    /// Micro-USD for one response; `None` for a model with no known price
    /// (never 0, never a guess).
    pub fn cost_usd_e6(&self, model: &str, tokens: &Tokens) -> Option<i64> {
        self.price(model)?.cost_usd_e6(tokens)
    }

    /// The model's context window, for `context_max_tokens`.
    pub fn context_max(&self, model: &str) -> Option<u64> {
        self.price(model)?.context_max
    }

    /// The model's rates: the first of its names (see `names`) that either
    /// table lists decides, so a user's `null` is never bypassed by an alias.
    pub fn price(&self, model: &str) -> Option<Price> {
        let name =
            self.names(model).into_iter().find(|n| self.overrides.contains_key(n) || snapshot().contains_key(n))?;
        let fields = merged(snapshot().get(&name), self.overrides.get(&name))?;
        Price::from_fields(&fields)
    }

    /// The names `model` is looked up under, in order: itself; without a
    /// provider prefix; under the Gemini API's `gemini/` (Google models LiteLLM
    /// lists only there); its alias. Exact matches only: never a substring,
    /// never a dated id cut to a shorter one.
    fn names(&self, model: &str) -> Vec<String> {
        if model.is_empty() || model.starts_with('_') {
            return Vec::new();
        }
        let bare = PREFIXES.iter().find_map(|p| model.strip_prefix(p)).unwrap_or(model);
        let mut names = vec![model.to_string(), bare.to_string(), format!("gemini/{bare}")];
        names.extend(self.alias(bare));
        names
    }

    /// The override's `_aliases` first (`null` removes one), then the snapshot's.
    fn alias(&self, name: &str) -> Option<String> {
        let entry = |table: &Table| table.get("_aliases").and_then(|a| a.get(name)).cloned();
        match entry(&self.overrides).or_else(|| entry(snapshot()))? {
            Value::String(target) => Some(target),
            _ => None,
        }
    }
}

/// The snapshot, parsed the first time a price is asked for.
fn snapshot() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    // Cannot fail: a test parses it. Were it broken, no model would have a price.
    TABLE.get_or_init(|| serde_json::from_str(SNAPSHOT).unwrap_or_default())
}

/// The snapshot's fields with the override's merged in (RFC 7396, one level).
fn merged(base: Option<&Value>, over: Option<&Value>) -> Option<Map<String, Value>> {
    let mut fields = base.and_then(Value::as_object).cloned().unwrap_or_default();
    match over {
        Some(Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    fields.remove(key);
                } else {
                    fields.insert(key.clone(), value.clone());
                }
            }
        }
        Some(_) => return None, // null: the user removed this model
        None => {}
    }
    Some(fields)
}

/// The override file's models and its hash; `Ok(None)` when there is none.
/// Read like an agent's file: regular files only, never blocking, bounded.
fn read_override(path: &Path) -> Result<Option<(Table, String)>, String> {
    let bytes = match fsutil::read_agent_file(path, End::Head, OVERRIDE_LIMIT + 1) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if bytes.len() as u64 > OVERRIDE_LIMIT {
        return Err(format!("larger than {} MiB", OVERRIDE_LIMIT >> 20));
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(table)) => Ok(Some((table, hash::hex_of_parts(&[&bytes])))),
        Ok(_) => Err("not a JSON object of models".to_string()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// Drops what cannot be a price, so it never masks the snapshot's value:
/// an entry that is not an object (or `null`), a rate or `max_input_tokens`
/// that is not a non-negative number (or `null`), an alias that is not a name.
/// Returns what it dropped.
fn sanitize(table: &mut Table) -> Vec<String> {
    let mut skipped = Vec::new();
    table.retain(|model, entry| match (model.as_str(), entry) {
        (_, Value::Null) => true,
        ("_aliases", Value::Object(aliases)) => {
            aliases.retain(|alias, target| keep(target.is_string() || target.is_null(), &mut skipped, model, alias));
            true
        }
        ("_aliases", _) => keep(false, &mut skipped, model, ""),
        // The file's own metadata, as in a copy of the snapshot.
        (name, _) if name.starts_with('_') => true,
        (_, Value::Object(fields)) => {
            fields.retain(|field, value| keep(valid_field(field, value), &mut skipped, model, field));
            true
        }
        _ => keep(false, &mut skipped, model, ""),
    });
    skipped
}

fn keep(ok: bool, skipped: &mut Vec<String>, model: &str, field: &str) -> bool {
    if !ok {
        skipped.push(if field.is_empty() { model.to_string() } else { format!("{model}.{field}") });
    }
    ok
}

/// At most `MAX_NAMED` of them, so one bad file cannot flood the log.
fn listed(skipped: &[String]) -> String {
    const MAX_NAMED: usize = 5;
    let named = skipped.iter().take(MAX_NAMED).cloned().collect::<Vec<_>>().join(", ");
    match skipped.len().checked_sub(MAX_NAMED) {
        Some(more) if more > 0 => format!("{named} and {more} more"),
        _ => named,
    }
}

fn valid_field(field: &str, value: &Value) -> bool {
    let priced = field == "max_input_tokens" || super::split_field(field).is_some();
    let number = value.as_f64().is_some_and(|v| v.is_finite() && v >= 0.0);
    !priced || value.is_null() || number
}

/// The value of the snapshot's `"_revision": "…"`, its first key (the script
/// writes it there), found at compile time so the two can never disagree.
const fn revision_of(json: &'static str) -> &'static str {
    const KEY: &[u8] = b"\"_revision\": \"";
    let bytes = json.as_bytes();
    let mut at = 0;
    while !matches_at(bytes, at, KEY) {
        at += 1;
        assert!(at + KEY.len() <= bytes.len(), "prices.json has no _revision");
    }
    let (_, rest) = bytes.split_at(at + KEY.len());
    let mut len = 0;
    while rest[len] != b'"' {
        len += 1;
    }
    match std::str::from_utf8(rest.split_at(len).0) {
        Ok(revision) => revision,
        Err(_) => panic!("prices.json: _revision is not UTF-8"),
    }
}

const fn matches_at(bytes: &[u8], at: usize, key: &[u8]) -> bool {
    if at + key.len() > bytes.len() {
        return false;
    }
    let mut i = 0;
    while i < key.len() {
        if bytes[at + i] != key[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn snapshot_only() -> Prices {
        Prices::default()
    }

    fn with_override(text: &str) -> (tempfile::TempDir, Prices) {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(OVERRIDE_FILE), text).unwrap();
        let prices = Prices::load(home.path());
        (home, prices)
    }

    #[test]
    fn claude_opus_5_5_with_a_1_hour_cache_write() {
        // $4/M in, $20/M out, $0.20/M read, $5/M 5-minute write, $8/M 1-hour write.
        let t = Tokens { input: 1234, output: 5678, cache_read: 98_767, cache_write: 20_000, cache_write_1h: 15_000 };
        // 4936 + 113560 + 19753.4 + 5000×5 + 15000×8 = 283249.4 µUSD
        assert_eq!(snapshot_only().cost_usd_e6("claude-opus-5-5", &t), Some(283_249));
        // Without the 1-hour split, all 20000 writes at $5/M: 238249.4
        let t5 = Tokens { cache_write_1h: 0, ..t };
        assert_eq!(snapshot_only().cost_usd_e6("claude-opus-5-5", &t5), Some(238_249));
    }

    #[test]
    fn gpt_5_5_above_its_272k_tier_prices_the_whole_request() {
        let p = snapshot_only();
        // Prompt 30000 + 250000 = 280000 > 272000: $10/M in, $1/M read, $45/M out.
        let above = Tokens { input: 30_000, cache_read: 250_000, output: 2_000, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6("gpt-5.5", &above), Some(300_000 + 250_000 + 90_000));
        // Prompt exactly 272000: the standard $5/M in, $0.50/M read, $30/M out.
        let at = Tokens { input: 22_000, ..above };
        assert_eq!(p.cost_usd_e6("gpt-5.5", &at), Some(110_000 + 125_000 + 60_000));
    }

    #[test]
    fn claude_haiku_5_5_tier_with_its_own_1_hour_rate() {
        let p = snapshot_only();
        // Prompt 10000 + 80000 + 20000 = 110000 > 100k: $0.50/M in, $0.05/M read,
        // $0.625/M 5-minute write, $1/M 1-hour write (its own tier rate), $2.50/M out.
        let above =
            Tokens { input: 10_000, cache_read: 80_000, cache_write: 20_000, cache_write_1h: 10_000, output: 1_000 };
        assert_eq!(p.cost_usd_e6("claude-haiku-5-5", &above), Some(5_000 + 4_000 + 6_250 + 10_000 + 2_500));
        // Prompt exactly 100000: $0.10, $0.01, $0.125, $0.20 and $0.50 per M.
        let at = Tokens { cache_read: 70_000, ..above };
        assert_eq!(p.cost_usd_e6("claude-haiku-5-5", &at), Some(1_000 + 700 + 1_250 + 2_000 + 500));
    }

    #[test]
    fn gemini_3_8_flash_rounds_half_up() {
        // Gemini's input 12345 includes 10000 cached; output 321 + 400 thoughts.
        let t = Tokens { input: 2_345, cache_read: 10_000, output: 721, ..Tokens::default() };
        // 2345×0.75 + 10000×0.075 + 721×3.75 = 1758.75 + 750 + 2703.75 = 5212.5 µUSD
        assert_eq!(snapshot_only().cost_usd_e6("gemini-3.8-flash", &t), Some(5_213));
    }

    #[test]
    fn gpt_4_1_with_cached_input() {
        // OpenAI's input 10000 includes 6000 cached: $2/M, $0.50/M, $8/M out.
        let t = Tokens { input: 4_000, cache_read: 6_000, output: 1_500, ..Tokens::default() };
        assert_eq!(snapshot_only().cost_usd_e6("gpt-4.1", &t), Some(8_000 + 3_000 + 12_000));
        assert_eq!(snapshot_only().context_max("gpt-4.1"), Some(1_047_576));
    }

    #[test]
    fn unknown_models_have_no_cost_not_zero_and_no_guess() {
        let t = Tokens { input: 1000, output: 1000, ..Tokens::default() };
        let p = snapshot_only();
        for model in [
            "claude-opus-9-9",
            "claude-opus-5-5-20260101", // a dated id LiteLLM does not list: not cut to claude-opus-5-5
            "claude-opus",              // a prefix of listed names is not a name
            "gpt-4.1-turbo-x",
            "GPT-4.1",
            "<synthetic>",
            "",
            "_aliases",
            "_revision",
            "vertex_ai/gpt-4.1",
        ] {
            assert_eq!(p.cost_usd_e6(model, &t), None, "{model}");
        }
        assert_eq!(p.context_max("no-such-model"), None);
    }

    #[test]
    fn aliases_prefixes_and_listed_dated_ids() {
        let p = snapshot_only();
        let t = Tokens { input: 1000, output: 1000, cache_read: 1000, cache_write: 1000, cache_write_1h: 500 };
        let opus = p.cost_usd_e6("claude-opus-5-5", &t);
        assert!(opus.is_some());
        assert_eq!(p.cost_usd_e6("anthropic/claude-opus-5-5", &t), opus);
        assert_eq!(p.cost_usd_e6("claude-opus-5.5", &t), opus); // Copilot's spelling, via _aliases
        assert_eq!(p.cost_usd_e6("claude-sonnet-4.5", &t), p.cost_usd_e6("claude-sonnet-4-5", &t));
        assert_eq!(p.cost_usd_e6("claude-sonnet-4-5-20250929", &t), p.cost_usd_e6("claude-sonnet-4-5", &t));
        assert_eq!(p.cost_usd_e6("openai/gpt-4.1", &t), p.cost_usd_e6("gpt-4.1", &t));
        assert_eq!(p.cost_usd_e6("models/gemini-3.8-flash", &t), p.cost_usd_e6("gemini-3.8-flash", &t));
        // Listed only under the Gemini API's namespace.
        assert!(p.cost_usd_e6("gemini-4-argon", &t).is_some());
        assert_eq!(p.cost_usd_e6("gemini-4-argon", &t), p.cost_usd_e6("gemini/gemini-4-argon", &t));
    }

    #[test]
    fn an_override_wins_field_by_field() {
        let (_home, p) = with_override(
            r#"{
                "gpt-4.1": {"input_cost_per_token": 1e-06},
                "my-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "max_input_tokens": 9000},
                "claude-opus-5-5": null,
                "claude-sonnet-4-5": {"cache_creation_input_token_cost_above_1hr": null},
                "_aliases": {"claude-sonnet-4.5": null, "proxy-opus": "claude-opus-4-8"}
            }"#,
        );
        assert_eq!(p.note(), None);
        let t = Tokens { input: 4_000, cache_read: 6_000, output: 1_500, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6("gpt-4.1", &t), Some(4_000 + 3_000 + 12_000)); // input $1/M, the rest kept
        assert_eq!(p.context_max("gpt-4.1"), Some(1_047_576));
        // $1/M in, $2/M out; it lists no cache rate, so reads pay the input rate.
        assert_eq!(p.cost_usd_e6("my-model", &t), Some(4_000 + 6_000 + 3_000));
        assert_eq!(p.context_max("my-model"), Some(9000));
        assert_eq!(p.cost_usd_e6("claude-opus-5-5", &t), None); // removed by the user
        assert_eq!(p.cost_usd_e6("claude-sonnet-4.5", &t), None); // alias removed
        assert_eq!(p.cost_usd_e6("proxy-opus", &t), snapshot_only().cost_usd_e6("claude-opus-4-8", &t));
        // 1-hour writes now at the 5-minute rate ($3.75/M): 1000 × 3.75.
        let w = Tokens { cache_write: 1000, cache_write_1h: 1000, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6("claude-sonnet-4-5", &w), Some(3_750));
        assert_eq!(snapshot_only().cost_usd_e6("claude-sonnet-4-5", &w), Some(6_000));
        assert!(p.revision().starts_with(REVISION) && p.revision().contains("+ prices.json fnv:"), "{}", p.revision());
        assert_eq!(snapshot_only().revision(), REVISION);
    }

    #[test]
    fn a_malformed_override_is_ignored_and_said() {
        let t = Tokens { input: 4_000, cache_read: 6_000, output: 1_500, ..Tokens::default() };
        for text in ["{\"gpt-4.1\": {", "[1, 2]", "", "null"] {
            let (_home, p) = with_override(text);
            assert!(p.note().is_some_and(|n| n.contains("prices.json: ignored")), "{text:?}: {:?}", p.note());
            assert_eq!(p.cost_usd_e6("gpt-4.1", &t), Some(23_000), "{text:?}");
            assert_eq!(p.revision(), REVISION);
        }
    }

    #[test]
    fn bad_fields_in_an_override_are_skipped_and_named() {
        let (_home, p) = with_override(
            r#"{"gpt-4.1": {"input_cost_per_token": "cheap", "output_cost_per_token": -1, "note": "kept"},
                "gpt-5.5": 3, "_aliases": {"x": 1}}"#,
        );
        let note = p.note().unwrap();
        for named in ["gpt-4.1.input_cost_per_token", "gpt-4.1.output_cost_per_token", "gpt-5.5", "_aliases.x"] {
            assert!(note.contains(named), "{note}");
        }
        assert!(!note.contains("note"), "{note}");
        let t = Tokens { input: 4_000, cache_read: 6_000, output: 1_500, ..Tokens::default() };
        assert_eq!(p.cost_usd_e6("gpt-4.1", &t), Some(23_000)); // the snapshot's rates stand
        assert!(p.cost_usd_e6("gpt-5.5", &t).is_some());
    }

    #[test]
    fn an_override_that_is_not_a_regular_file_never_blocks() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(OVERRIDE_FILE);
        use rustix::fs::{CWD, FileType, Mode, mknodat};
        mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        let p = Prices::load(home.path());
        assert!(p.note().is_some_and(|n| n.contains("FIFO")), "{:?}", p.note());
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert!(Prices::load(home.path()).note().is_some());
        let missing = tempfile::tempdir().unwrap();
        assert_eq!(Prices::load(missing.path()).note(), None);
    }

    #[test]
    fn the_snapshot_parses_and_every_entry_is_a_price() {
        let table: Table = serde_json::from_str(SNAPSHOT).expect("prices.json parses");
        let models: Vec<_> = table.iter().filter(|(name, _)| !name.starts_with('_')).collect();
        assert!(models.len() > 50, "{} models", models.len());
        for (name, fields) in &models {
            let price = Price::from_fields(fields.as_object().unwrap());
            assert!(price.is_some(), "{name} has no input or output rate");
            for (field, value) in fields.as_object().unwrap() {
                if let (Some(_), Some(usd)) = (super::super::split_field(field), value.as_f64()) {
                    let pico = usd * 1e12;
                    assert!((pico - pico.round()).abs() < 1e-6, "{name}.{field} = {usd} is not whole pico-USD");
                }
            }
        }
        for (alias, target) in table["_aliases"].as_object().unwrap() {
            assert!(table.contains_key(target.as_str().unwrap()), "{alias} → {target}");
        }
        // The snapshot stays small enough to compile in.
        assert!(SNAPSHOT.len() < 64 * 1024, "{} bytes", SNAPSHOT.len());
    }

    #[test]
    fn the_revision_is_the_snapshots() {
        let table: Table = serde_json::from_str(SNAPSHOT).unwrap();
        assert_eq!(table["_revision"], REVISION);
        assert!(REVISION.starts_with("litellm ") && REVISION.contains(" sha256:"), "{REVISION}");
        let source = &table["_source"];
        assert!(REVISION.contains(source["version"].as_str().unwrap()));
        assert!(source["sha256"].as_str().unwrap().starts_with(REVISION.rsplit(':').next().unwrap()));
        assert!(source["date"].as_str().is_some_and(|d| d.len() == 10));
        assert!(table["_license"].as_str().unwrap().contains("MIT License"));
    }
}

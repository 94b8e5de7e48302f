//! Hooks as TOML array-of-tables entries, one `[[hooks]]` table per handler
//! naming its event: Kimi Code's `config.toml` (`event`, `command`,
//! `timeout`), Mistral Vibe's `hooks.toml` (`name`, `type`, `command`,
//! `timeout`). The file is edited through `TomlFile`, so everything else in it
//! (settings, the user's own hooks, comments) stays as it was; ours are the
//! entries whose `command` runs `kaizen-hook`.

use super::toml_file::{Saved, TomlFile};
use super::{Registration, is_ours};
use crate::phase::Category;
use std::path::Path;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, value};

pub struct TomlHooks {
    /// Agent event → kaizen-hook subcommand.
    pub events: &'static [(&'static str, Category)],
    /// The key an entry names its event under: `event` (Kimi), `type` (Vibe).
    pub event_key: &'static str,
    /// Whether each entry needs a `name` of its own in the file (Vibe
    /// skips a hook whose name another already took): ours is `kaizen-hook-<event>`.
    pub named: bool,
    /// The entry timeout, in seconds.
    pub timeout: u64,
}

const KEY: &str = "hooks";

impl TomlHooks {
    /// Adds or updates our entries in the file at `path` (created if
    /// missing); says what it did. Fails, changing nothing, on a file it
    /// cannot safely edit.
    pub fn install(
        &self,
        path: &Path,
        registration: &Registration,
        agent: &str,
        dry_run: bool,
    ) -> Result<String, String> {
        let mut file = TomlFile::load(path)?;
        self.register(&mut file.doc, registration, agent)?;
        Ok(match file.save(dry_run)? {
            Saved::Unchanged => format!("already registered in {} (unchanged)", path.display()),
            Saved::WouldChange(changes) => {
                format!("would change {} (dry run, nothing written):\n{changes}", path.display())
            }
            Saved::Written { backup } => {
                format!("registered {} events in {}{backup}", self.events.len(), path.display())
            }
        })
    }

    pub fn register(&self, doc: &mut DocumentMut, registration: &Registration, agent: &str) -> Result<(), String> {
        if doc.get(KEY).is_none() {
            doc.insert(KEY, Item::ArrayOfTables(ArrayOfTables::new()));
        }
        let Some(Item::ArrayOfTables(entries)) = doc.get_mut(KEY) else {
            return Err(format!("\"{KEY}\" is not written as [[{KEY}]] tables: left untouched"));
        };
        for (event, category) in self.events {
            let command = registration.command(category.subcommand(), agent);
            let mut found = false;
            // Keep the first of ours for this event, drop its duplicates.
            entries.retain(|entry| !(self.is_ours_for(entry, event) && std::mem::replace(&mut found, true)));
            let found = entries.iter().position(|entry| self.is_ours_for(entry, event));
            let at = found.unwrap_or_else(|| {
                entries.push(Table::new());
                entries.len() - 1
            });
            self.fill(entries.get_mut(at).expect("found or just pushed"), event, &command);
        }
        Ok(())
    }

    /// Makes `entry` ours for `event`, touching only the values that differ
    /// (an entry already right stays byte for byte as it is).
    fn fill(&self, entry: &mut Table, event: &str, command: &str) {
        let timeout = i64::try_from(self.timeout).unwrap_or(i64::MAX);
        if self.named {
            set_str(entry, "name", &format!("kaizen-hook-{event}"));
        }
        set_str(entry, self.event_key, event);
        set_str(entry, "command", command);
        if entry.get("timeout").and_then(Item::as_integer) != Some(timeout) {
            entry.insert("timeout", value(timeout));
        }
    }

    fn is_ours_for(&self, entry: &dyn TableLike, event: &str) -> bool {
        entry_is_ours(entry) && entry.get(self.event_key).and_then(Item::as_str) == Some(event)
    }

    /// Removes our entries from the file at `path`, and the file itself when
    /// install created it and nothing else is left in it; says what it did.
    pub fn uninstall(&self, path: &Path) -> Result<String, String> {
        if !path.exists() {
            return Ok(format!("nothing to remove ({} does not exist)", path.display()));
        }
        let mut file = TomlFile::load(path)?;
        let removed = unregister(&mut file.doc);
        if removed == 0 {
            return Ok(format!("nothing to remove in {}", path.display()));
        }
        if file.doc.to_string().trim().is_empty() && !file.backup_path().exists() {
            std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            return Ok(format!("removed {removed} entries and {}, which install had created", path.display()));
        }
        file.write()?;
        Ok(format!("removed {removed} entries from {}", path.display()))
    }

    /// The events where the file at `path` runs kaizen-hook, with the command
    /// registered there; none when there is no file.
    pub fn registered(&self, path: &Path) -> Result<Vec<(String, String)>, String> {
        if !path.exists() {
            return Ok(Vec::new());
        }
        let file = TomlFile::load(path)?;
        let entries = entries(&file.doc).unwrap_or_default();
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let command = entry.get("command").and_then(Item::as_str).filter(|c| is_ours(c))?;
                Some((entry.get(self.event_key)?.as_str()?.to_string(), command.to_string()))
            })
            .collect())
    }
}

fn set_str(entry: &mut Table, key: &str, text: &str) {
    if entry.get(key).and_then(Item::as_str) != Some(text) {
        entry.insert(key, value(text));
    }
}

fn entry_is_ours(entry: &dyn TableLike) -> bool {
    entry.get("command").and_then(Item::as_str).is_some_and(is_ours)
}

/// Every hook entry, however the file writes the list: `[[hooks]]` tables or
/// an inline array of inline tables; `None` when `hooks` is something else.
pub fn entries(doc: &DocumentMut) -> Option<Vec<&dyn TableLike>> {
    match doc.get(KEY) {
        None => Some(Vec::new()),
        Some(Item::ArrayOfTables(tables)) => Some(tables.iter().map(|t| t as &dyn TableLike).collect()),
        Some(Item::Value(toml_edit::Value::Array(list))) => {
            list.iter().map(|v| v.as_inline_table().map(|t| t as &dyn TableLike)).collect()
        }
        Some(_) => None,
    }
}

/// Removes our entries, and the list when that leaves it empty; returns how many.
pub fn unregister(doc: &mut DocumentMut) -> usize {
    let (before, after) = match doc.get_mut(KEY) {
        Some(Item::ArrayOfTables(entries)) => {
            let before = entries.len();
            entries.retain(|t| !entry_is_ours(t));
            (before, entries.len())
        }
        Some(Item::Value(toml_edit::Value::Array(entries))) => {
            let before = entries.len();
            entries.retain(|v| !v.as_inline_table().is_some_and(|t| entry_is_ours(t)));
            (before, entries.len())
        }
        _ => return 0,
    };
    if after == 0 && before > 0 {
        doc.remove(KEY);
    }
    before - after
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &[(&str, Category)] = &[("PreToolUse", Category::ToolUse), ("Stop", Category::Stop)];

    fn kimi() -> TomlHooks {
        TomlHooks { events: EVENTS, event_key: "event", named: false, timeout: 5 }
    }

    fn registration() -> Registration {
        Registration { binary: "/b/kaizen-hook".into() }
    }

    fn registered(hooks: &TomlHooks, text: &str) -> String {
        let mut doc: DocumentMut = text.parse().unwrap();
        hooks.register(&mut doc, &registration(), "kimi").unwrap();
        doc.to_string()
    }

    const USERS: &str = "# my settings\ndefault_model = \"k3\" # the fast one\n\n[[hooks]]\nevent = \"Stop\"\ncommand = \"notify-send done\"\n\n[providers.mock]\ntype = \"openai\"\n";

    #[test]
    fn ours_are_appended_and_everything_else_is_kept() {
        let text = registered(&kimi(), USERS);
        assert!(text.starts_with("# my settings\ndefault_model = \"k3\" # the fast one\n"), "{text}");
        assert!(text.contains("[[hooks]]\nevent = \"Stop\"\ncommand = \"notify-send done\"\n"), "{text}");
        assert!(text.contains("[providers.mock]\ntype = \"openai\"\n"), "{text}");
        assert!(
            text.contains(
                "[[hooks]]\nevent = \"PreToolUse\"\ncommand = \"/b/kaizen-hook tool-use --agent kimi\"\ntimeout = 5\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("event = \"Stop\"\ncommand = \"/b/kaizen-hook stop --agent kimi\"\ntimeout = 5\n"),
            "{text}"
        );
        assert_eq!(registered(&kimi(), &text), text, "a second install changes nothing");
        let mut doc: DocumentMut = text.parse().unwrap();
        assert_eq!(unregister(&mut doc), 2);
        assert_eq!(doc.to_string(), USERS, "uninstall gives back the user's bytes");
    }

    #[test]
    fn a_file_without_hooks_gets_the_list_and_loses_it_again() {
        let text = registered(&kimi(), "model = \"x\"\n");
        assert!(text.starts_with("model = \"x\"\n\n[[hooks]]\nevent = \"PreToolUse\"\n"), "{text}");
        let mut doc: DocumentMut = text.parse().unwrap();
        unregister(&mut doc);
        assert_eq!(doc.to_string(), "model = \"x\"\n");
    }

    #[test]
    fn a_stale_entry_of_ours_is_updated_in_place_and_duplicates_dropped() {
        let old = "[[hooks]]\nevent = \"Stop\"\ncommand = \"/old/kaizen-hook stop\" # ours\ntimeout = 30\n\n\
                   [[hooks]]\nevent = \"Stop\"\ncommand = \"/old/kaizen-hook stop\"\n";
        let text = registered(&kimi(), old);
        let doc: DocumentMut = text.parse().unwrap();
        let stops = doc["hooks"].as_array_of_tables().unwrap().iter().filter(|t| t["event"].as_str() == Some("Stop"));
        let commands: Vec<_> = stops.map(|t| (t["command"].as_str(), t["timeout"].as_integer())).collect();
        assert_eq!(commands, [(Some("/b/kaizen-hook stop --agent kimi"), Some(5))]);
    }

    #[test]
    fn vibe_entries_are_named_and_typed() {
        let vibe = TomlHooks { events: &[("pre_tool", Category::ToolUse)], event_key: "type", named: true, timeout: 5 };
        let text = registered(&vibe, "");
        assert_eq!(
            text,
            "[[hooks]]\nname = \"kaizen-hook-pre_tool\"\ntype = \"pre_tool\"\ncommand = \"/b/kaizen-hook tool-use --agent kimi\"\ntimeout = 5\n"
        );
    }

    #[test]
    fn an_inline_list_is_read_and_cleaned_but_not_written_into() {
        let inline = "hooks = [{ event = \"Stop\", command = \"/b/kaizen-hook stop\" }, { event = \"Stop\", command = \"mine\" }]\n";
        let mut doc: DocumentMut = inline.parse().unwrap();
        assert!(kimi().register(&mut doc, &registration(), "kimi").is_err());
        assert_eq!(doc.to_string(), inline, "a refused file is left as it was");
        let ours: Vec<bool> = entries(&doc).unwrap().into_iter().map(entry_is_ours).collect();
        assert_eq!(ours, [true, false]);
        assert_eq!(unregister(&mut doc), 1);
        assert_eq!(doc.to_string(), "hooks = [ { event = \"Stop\", command = \"mine\" }]\n");
        assert!(kimi().register(&mut "hooks = 3\n".parse().unwrap(), &registration(), "kimi").is_err());
    }
}

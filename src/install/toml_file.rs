//! An agent's TOML config file (Codex's `config.toml`), edited without harming
//! it: the user's comments, order and layout survive (`toml_edit` keeps them),
//! a file that does not parse is refused and left untouched, the write is
//! atomic (temp file + rename, through a symlink to its target) and keeps the
//! file's mode, and the previous version is kept as `<file>.kaizen.bak`.

use std::fs;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, TableLike};

pub struct TomlFile {
    pub path: PathBuf,
    /// The bytes on disk; `None` when the file does not exist yet.
    pub original: Option<Vec<u8>>,
    pub doc: DocumentMut,
}

impl TomlFile {
    pub fn load(path: &Path) -> Result<TomlFile, String> {
        let original = match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let text = match &original {
            Some(bytes) => std::str::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?,
            None => "",
        };
        let doc = text
            .parse::<DocumentMut>()
            .map_err(|e| format!("{} is not valid TOML ({}); it was left untouched", path.display(), e.message()))?;
        Ok(TomlFile { path: path.to_path_buf(), original, doc })
    }

    pub fn render(&self) -> Vec<u8> {
        self.doc.to_string().into_bytes()
    }

    /// Whether the document now says what the file on disk says.
    pub fn unchanged(&self) -> bool {
        self.original.as_deref().unwrap_or_default() == self.render().as_slice()
    }

    pub fn backup_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".kaizen.bak");
        self.path.with_file_name(name)
    }

    /// Writes the document atomically, keeping the file's mode and a backup of the previous version.
    pub fn write(&self) -> Result<(), String> {
        super::config_file::replace(&self.path, self.original.as_deref(), &self.backup_path(), &self.render())
    }

    /// Writes the edited document unless it says what the file says; on a
    /// dry run, writes nothing and gives the changes it would make.
    pub fn save(&self, dry_run: bool) -> Result<Saved, String> {
        if self.unchanged() {
            return Ok(Saved::Unchanged);
        }
        if dry_run {
            let old = String::from_utf8_lossy(self.original.as_deref().unwrap_or_default());
            return Ok(Saved::WouldChange(super::diff::render(&old, &String::from_utf8_lossy(&self.render()))));
        }
        self.write()?;
        let backup = match self.original {
            Some(_) => format!("; previous version kept as {}", self.backup_path().display()),
            None => String::new(),
        };
        Ok(Saved::Written { backup })
    }
}

/// What `TomlFile::save` did.
pub enum Saved {
    Unchanged,
    /// A dry run: the changes, rendered as a diff.
    WouldChange(String),
    /// `backup` says where the previous version is kept (empty for a new file).
    Written {
        backup: String,
    },
}

/// The table at a dotted path (`["hooks", "state"]`), however it is written:
/// `[hooks.state]`, dotted keys or an inline table.
pub fn table_at<'a>(doc: &'a DocumentMut, path: &[&str]) -> Option<&'a dyn TableLike> {
    path.iter().try_fold(doc.as_table() as &dyn TableLike, |table, key| table.get(key)?.as_table_like())
}

/// The table at a dotted path, created (without a header of its own) where it
/// is missing; `None` when something that is not a table is in the way.
pub fn ensure_table<'a>(doc: &'a mut DocumentMut, path: &[&str]) -> Option<&'a mut dyn TableLike> {
    path.iter().try_fold(doc.as_table_mut() as &mut dyn TableLike, |table, key| {
        if table.get(key).is_none() {
            let mut implicit = Table::new();
            implicit.set_implicit(true);
            table.insert(key, Item::Table(implicit));
        }
        table.get_mut(key)?.as_table_like_mut()
    })
}

/// Removes the tables along `path` that are left empty and have no header of
/// their own, deepest first: what `table_at_mut` created, once emptied again.
pub fn prune_empty(doc: &mut DocumentMut, path: &[&str]) {
    for depth in (1..=path.len()).rev() {
        let (parent, key) = (&path[..depth - 1], path[depth - 1]);
        let Some(table) = table_at_mut(doc, parent) else { return };
        let removable = match table.get(key) {
            Some(Item::Table(t)) => t.is_empty() && t.is_implicit(),
            Some(item) => item.as_table_like().is_some_and(|t| t.is_empty() && t.is_dotted()),
            None => false,
        };
        if removable {
            table.remove(key);
        }
    }
}

/// The table at a dotted path, when there is one.
pub fn table_at_mut<'a>(doc: &'a mut DocumentMut, path: &[&str]) -> Option<&'a mut dyn TableLike> {
    path.iter().try_fold(doc.as_table_mut() as &mut dyn TableLike, |table, key| table.get_mut(key)?.as_table_like_mut())
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml_edit::value;

    fn doc(text: &str) -> DocumentMut {
        text.parse().unwrap()
    }

    #[test]
    fn tables_are_created_without_headers_and_pruned_again() {
        let text = "# mine\nmodel = \"o4\"\n\n[features]\nplugins = false\n";
        let mut d = doc(text);
        let state = ensure_table(&mut d, &["hooks", "state"]).unwrap();
        let mut entry = Table::new();
        entry.insert("trusted_hash", value("sha256:00"));
        state.insert("/h/.codex/hooks.json:stop:0:0", Item::Table(entry));
        assert_eq!(
            d.to_string(),
            format!("{text}\n[hooks.state.\"/h/.codex/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:00\"\n")
        );
        table_at_mut(&mut d, &["hooks", "state"]).unwrap().remove("/h/.codex/hooks.json:stop:0:0");
        prune_empty(&mut d, &["hooks", "state"]);
        assert_eq!(d.to_string(), text);
    }

    #[test]
    fn tables_are_found_however_they_are_written() {
        for text in [
            "[hooks.state.\"k\"]\ntrusted_hash = \"x\"\n",
            "[hooks]\nstate = { k = { trusted_hash = \"x\" } }\n",
            "hooks.state.k.trusted_hash = \"x\"\n",
        ] {
            let d = doc(text);
            let found = table_at(&d, &["hooks", "state", "k"]).and_then(|t| t.get("trusted_hash")?.as_str());
            assert_eq!(found, Some("x"), "{text}");
        }
        assert!(ensure_table(&mut doc("hooks = 3\n"), &["hooks", "state"]).is_none());
    }

    #[test]
    fn an_explicit_empty_table_is_kept() {
        let text = "[hooks.state]\n";
        let mut d = doc(text);
        prune_empty(&mut d, &["hooks", "state"]);
        assert_eq!(d.to_string(), text);
    }
}

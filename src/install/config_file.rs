//! An agent's JSON config file, edited without harming it: malformed JSON
//! (comments, trailing commas, an empty file) is refused and left untouched;
//! key order, indentation, trailing newline and file mode survive; the write
//! is atomic (temp file + rename, through a symlinked file to its target); the
//! previous version is kept as `<file>.kaizen.bak`.

use crate::store::fsutil;
use serde::Serialize;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct ConfigFile {
    pub path: PathBuf,
    /// The bytes on disk; `None` when the file does not exist yet.
    pub original: Option<Vec<u8>>,
    pub value: Value,
    indent: String,
    trailing_newline: bool,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let original = match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let Some(bytes) = &original else {
            return Ok(ConfigFile {
                path: path.to_path_buf(),
                original: None,
                value: Value::Object(Default::default()),
                indent: "  ".into(),
                trailing_newline: true,
            });
        };
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "{} is not valid JSON ({e}); comments and trailing commas are not JSON either. \
                 It was left untouched: fix it, or register by hand with the snippets in hooks/",
                path.display()
            )
        })?;
        if !value.is_object() {
            return Err(format!("{} does not hold a JSON object; it was left untouched", path.display()));
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            indent: detect_indent(bytes),
            trailing_newline: bytes.ends_with(b"\n"),
            original,
            value,
        })
    }

    /// `value` as this file would hold it, in the file's own style.
    pub fn render(&self, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        value.serialize(&mut serializer).expect("a JSON value always serializes");
        if self.trailing_newline {
            out.push(b'\n');
        }
        out
    }

    pub fn backup_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".kaizen.bak");
        self.path.with_file_name(name)
    }

    /// Writes `bytes` atomically, keeping the file's mode and a backup of the previous version.
    pub fn write(&self, bytes: &[u8]) -> Result<(), String> {
        replace(&self.path, self.original.as_deref(), &self.backup_path(), bytes)
    }
}

/// Replaces the file at `path` (through a symlinked file, its target) with
/// `bytes`: atomically and synced (`fsutil::replace`), keeping its mode, with
/// `original` (the previous version, if any) kept at `backup`.
pub fn replace(path: &Path, original: Option<&[u8]>, backup: &Path, bytes: &[u8]) -> Result<(), String> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target.parent().ok_or_else(|| format!("{} has no directory", target.display()))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mode = fs::metadata(&target).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
    let how = fsutil::Replace::person(mode);
    if let Some(original) = original {
        fsutil::replace(backup, original, how).map_err(|e| format!("cannot write {e}"))?;
    }
    fsutil::replace(&target, bytes, how).map_err(|e| format!("cannot replace {e}"))
}

/// The indentation of the first indented line: two spaces, four, a tab...
fn detect_indent(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .skip(1)
        .map(|line| line.chars().take_while(|c| *c == ' ' || *c == '\t').collect::<String>())
        .find(|indent| !indent.is_empty())
        .unwrap_or_else(|| "  ".into())
}

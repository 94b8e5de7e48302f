//! Hooks that are files of their own in one of the agent's directories: Cline
//! runs the executable named after each event in its hooks directory, OpenCode
//! loads every plugin module in its plugin directory. Ours say so in a marker
//! line, so installing again rewrites only them, a user's own file of the same
//! name is never overwritten, and uninstall removes exactly what install wrote.

use crate::phase::Category;
use crate::store::fsutil;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every file install writes holds this text.
pub const MARKER: &str = "Written by `kaizen-hook install";

pub struct Files {
    /// The file names install writes in the directory.
    pub files: &'static [&'static str],
    /// The agent events those files deliver, with the subcommand each runs:
    /// the file named after the event, else the first file (a plugin).
    pub events: &'static [(&'static str, Category)],
    /// A file's content for this binary.
    pub render: fn(binary: &Path, file: &str) -> String,
    /// The command one of our files runs (its program first, quoted as for `sh`).
    pub command: fn(&str) -> Option<String>,
    /// Whether the agent runs the files (mode 0755), or reads them (0644).
    pub executable: bool,
}

pub fn is_ours(content: &str) -> bool {
    content.contains(MARKER)
}

/// What install does with one file.
enum Plan {
    Unchanged,
    Write(String),
    /// Something of the user's is there: left alone.
    Foreign(String),
}

impl Files {
    /// Writes our files into `dir` (created if missing); says what it did.
    pub fn install(&self, dir: &Path, binary: &Path, dry_run: bool) -> Result<String, String> {
        let plans: Vec<(&str, Plan)> = self.files.iter().map(|f| (*f, self.plan(dir, binary, f))).collect();
        let writes = plans.iter().filter(|(_, p)| matches!(p, Plan::Write(_))).count();
        let mut message = match (writes, dry_run) {
            (0, _) => format!("already registered in {} (unchanged)", dir.display()),
            (n, true) => format!("would write {n} file(s) in {} (dry run, nothing written)", dir.display()),
            (n, false) => format!("wrote {n} file(s) in {}", dir.display()),
        };
        if writes > 0 && !dry_run {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        for (file, plan) in &plans {
            match plan {
                Plan::Write(content) if !dry_run => write(&dir.join(file), content, self.mode())?,
                Plan::Foreign(why) => message += &format!("\n  NOT registered for {file}: {why}"),
                _ => {}
            }
        }
        Ok(message)
    }

    fn plan(&self, dir: &Path, binary: &Path, file: &str) -> Plan {
        let path = dir.join(file);
        let content = (self.render)(binary, file);
        match fs::symlink_metadata(&path) {
            Err(_) => Plan::Write(content),
            Ok(meta) if !meta.is_file() => Plan::Foreign(format!("{} is not a regular file", path.display())),
            Ok(meta) => match fs::read_to_string(&path) {
                Ok(old) if old == content && meta.permissions().mode() & 0o777 == self.mode() => Plan::Unchanged,
                Ok(old) if is_ours(&old) => Plan::Write(content),
                _ => Plan::Foreign(format!("{} is the user's own; left as it is", path.display())),
            },
        }
    }

    fn mode(&self) -> u32 {
        if self.executable { 0o755 } else { 0o644 }
    }

    /// Removes our files from `dir`, and `dir` itself when that leaves it empty.
    pub fn uninstall(&self, dir: &Path) -> Result<String, String> {
        let mut removed = 0;
        for (file, _) in self.ours(dir) {
            let path = dir.join(&file);
            fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            removed += 1;
        }
        if removed == 0 {
            return Ok(format!("nothing to remove in {}", dir.display()));
        }
        let gone = fs::remove_dir(dir).is_ok();
        let also = if gone { ", and the directory, now empty" } else { "" };
        Ok(format!("removed {removed} file(s) from {}{also}", dir.display()))
    }

    /// Our files present in `dir`, each with its content.
    fn ours(&self, dir: &Path) -> Vec<(String, String)> {
        self.files
            .iter()
            .filter(|f| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()))
            .filter_map(|f| Some((f.to_string(), fs::read_to_string(dir.join(f)).ok()?)))
            .filter(|(_, content)| is_ours(content))
            .collect()
    }

    /// The events our files in `dir` deliver, with the command each runs.
    pub fn registered(&self, dir: &Path) -> Vec<(String, String)> {
        let ours = self.ours(dir);
        self.events
            .iter()
            .filter_map(|(event, _)| {
                let file = self.files.iter().find(|f| *f == event).unwrap_or(&self.files[0]);
                let (_, content) = ours.iter().find(|(name, _)| name == file)?;
                Some((event.to_string(), (self.command)(content).unwrap_or_default()))
            })
            .collect()
    }
}

/// Writes `content` to `path` atomically and synced (`fsutil::replace`) with `mode`.
fn write(path: &Path, content: &str, mode: u32) -> Result<(), String> {
    fsutil::replace(path, content.as_bytes(), fsutil::Replace::person(mode)).map_err(|e| format!("cannot write {e}"))
}

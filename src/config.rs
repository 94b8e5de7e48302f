//! Settings read from the environment. Every knob has a safe default, and a
//! malformed value falls back to that default: a typo must never stop a hook.

use std::env;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// `$KAIZEN_HOME`, default `~/.kaizen` (the home from `$HOME`, else the
    /// password database, else a private `$TMPDIR/kaizen-<uid>`). Empty when
    /// no private place was found: then `home_refused` says why.
    pub home: PathBuf,
    /// Why nothing may be recorded: no home, and the temporary directory's
    /// place for this user is not one only this user owns.
    pub home_refused: Option<String>,
    /// Wall-clock budget for one hook run (`KAIZEN_HOOK_BUDGET_MS`, default 1000).
    pub budget: Duration,
    /// Longest string kept from the hook input, in bytes (`KAIZEN_HOOK_FIELD_CAP`, default 32 KiB).
    pub field_cap: usize,
    /// Largest recorded event line, in bytes (`KAIZEN_HOOK_EVENT_CAP`, default 1 MiB).
    pub event_cap: usize,
    /// Window in which an identical delivery counts as a duplicate (`KAIZEN_HOOK_DEDUP_MS`,
    /// default 3000; 0 turns de-duplication off).
    pub dedup_window_ms: u64,
}

impl Config {
    pub fn from_env() -> Config {
        let (home, home_refused) = match kaizen_home() {
            Ok(home) => (home, None),
            Err(why) => (PathBuf::new(), Some(why)),
        };
        Config {
            home,
            home_refused,
            budget: Duration::from_millis(number("KAIZEN_HOOK_BUDGET_MS", 1000, 10, 60_000)),
            field_cap: number("KAIZEN_HOOK_FIELD_CAP", 32 * 1024, 256, 64 << 20) as usize,
            event_cap: number("KAIZEN_HOOK_EVENT_CAP", 1 << 20, 4096, 256 << 20) as usize,
            dedup_window_ms: number("KAIZEN_HOOK_DEDUP_MS", 3000, 0, 600_000),
        }
    }

    /// The home a human command reads (and `export` writes its cursors in):
    /// `Err` saying why there is none. Never `home` when it is empty, which
    /// would make `sessions/` the current directory's.
    pub fn home_to_read(&self) -> Result<&Path, String> {
        match &self.home_refused {
            Some(why) => Err(format!("no kaizen home ({why})")),
            None if self.home.as_os_str().is_empty() => Err("no kaizen home".into()),
            None => Ok(&self.home),
        }
    }
}

fn kaizen_home() -> Result<PathBuf, String> {
    match env::var_os("KAIZEN_HOME") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => match home_dir() {
            Some(home) => Ok(home.join(".kaizen")),
            None => private_temp_dir(),
        },
    }
}

/// The user's home: `$HOME`, else the password database's entry for this user.
pub fn home_dir() -> Option<PathBuf> {
    env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).or_else(passwd_home)
}

/// `pw_dir` of the real user (`getpwuid_r`: glibc asks NSS, musl reads
/// `/etc/passwd`), when it is an absolute path.
fn passwd_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let uid = rustix::process::getuid().as_raw();
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: an all-zero passwd is a valid value (integers and null pointers) for
        // getpwuid_r to fill; `buf` is valid for `buf.len()` bytes and outlives the call;
        // pw_dir, when not null, points to a NUL-terminated string inside `buf`, copied
        // out before `buf` is resized or dropped.
        let (rc, dir) = unsafe {
            let mut entry: libc::passwd = std::mem::zeroed();
            let mut found: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr().cast(), buf.len(), &mut found);
            let dir = (rc == 0 && !found.is_null() && !entry.pw_dir.is_null())
                .then(|| std::ffi::CStr::from_ptr(entry.pw_dir).to_bytes().to_vec());
            (rc, dir)
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        let dir = PathBuf::from(std::ffi::OsString::from_vec(dir?));
        return dir.is_absolute().then_some(dir);
    }
}

/// `$TMPDIR/kaizen-<uid>`, created 0700 if missing, and used only if it is a
/// real directory (not a symlink) this user owns that nobody else can enter:
/// a shared temporary directory lets anyone create that name first.
fn private_temp_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = rustix::process::getuid().as_raw();
    let dir = env::temp_dir().join(format!("kaizen-{uid}"));
    let refused = |why: String| format!("HOME is unset and uid {uid} has no home in the password database; {why}");
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&dir)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return Err(refused(format!("cannot create {}: {e}", dir.display())));
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| refused(format!("{}: {e}", dir.display())))?;
    let problem = if !meta.is_dir() {
        Some("is not a directory (a symlink or a file)".to_string())
    } else if meta.uid() != uid {
        Some(format!("is owned by uid {}", meta.uid()))
    } else if meta.mode() & 0o077 != 0 {
        Some(format!("has mode {:o}: others can enter it", meta.mode() & 0o777))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(refused(format!("{} {problem}: recording nothing", dir.display()))),
        None => Ok(dir),
    }
}

fn number(name: &str, default: u64, min: u64, max: u64) -> u64 {
    env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok()).map(|v| v.clamp(min, max)).unwrap_or(default)
}

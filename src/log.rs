//! The failure log, `$KAIZEN_HOME/logs/kaizen-hook.log`: where every error and
//! every dropped input goes instead of the agent's screen. Bounded: past
//! `MAX_BYTES` it is rotated to `kaizen-hook.log.1`, so two files at most.

use crate::store::fsutil;
use crate::time;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAX_BYTES: u64 = 1 << 20;
const MAX_LINE: usize = 4096;

pub fn path(home: &Path) -> PathBuf {
    home.join("logs").join("kaizen-hook.log")
}

/// Appends one line; failures to log are swallowed (there is nowhere left to report them).
/// With no private home (an empty path: see `Config::home_refused`) the line
/// goes to syslog instead, the one place left that no other user controls.
pub fn write(home: &Path, message: &str) {
    if home.as_os_str().is_empty() {
        to_syslog(message);
        return;
    }
    let _ = try_write(home, message);
}

fn to_syslog(message: &str) {
    let Ok(text) = std::ffi::CString::new(format!("kaizen-hook: {}", message.replace('\0', " "))) else { return };
    // syslog(3): neither std nor rustix speaks to the system logger.
    // SAFETY: a constant "%s" format string and one NUL-terminated argument
    // for it, alive for the call.
    unsafe { libc::syslog(libc::LOG_USER | libc::LOG_WARNING, c"%s".as_ptr(), text.as_ptr()) };
}

fn try_write(home: &Path, message: &str) -> std::io::Result<()> {
    let dir = home.join("logs");
    fsutil::ensure_private_dir(&dir)?;
    let path = path(home);
    let mut file = match fsutil::open_append(&path) {
        Ok(file) => file,
        // Something planted at the log path (a symlink, a FIFO): remove that
        // entry itself, never what it points to, and start a fresh log.
        Err(_) if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) => {
            fs::remove_file(&path)?;
            fsutil::open_append(&path)?
        }
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() > MAX_BYTES {
        fs::rename(&path, dir.join("kaizen-hook.log.1"))?;
        file = fsutil::open_append(&path)?;
    }
    let mut line = format!(
        "{} pid={} {}",
        time::format_utc(time::now_ms()),
        std::process::id(),
        message.replace(['\n', '\r'], " ")
    );
    if line.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line.push('\n');
    file.write_all(line.as_bytes())
}

//! The agent process that delivered a hook: the nearest ancestor of this
//! process that is not a shell (agents run hooks through `sh -c`). It is
//! known by its pid and its start time (clock ticks since boot, from
//! `/proc/<pid>/stat`), which together are never reused. The duplicate rule
//! needs it (a double delivery comes from one agent process), and so does
//! telling whether a session's agent is still running.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentProcess {
    pub pid: u32,
    pub start_ticks: u64,
}

impl fmt::Display for AgentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pid, self.start_ticks)
    }
}

/// Shells an agent may run its hooks through.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "busybox", "env", "timeout"];

/// The delivering agent process; `None` where `/proc` says nothing (not Linux).
pub fn delivering() -> Option<AgentProcess> {
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..4 {
        let stat = Stat::of(pid)?;
        if !SHELLS.contains(&stat.comm.as_str()) || stat.ppid <= 1 {
            return Some(AgentProcess { pid, start_ticks: stat.start_ticks });
        }
        pid = stat.ppid;
    }
    None
}

impl AgentProcess {
    /// Whether this very process (not a later one with the same pid) still runs.
    pub fn is_alive(&self) -> bool {
        Stat::of(self.pid).is_some_and(|stat| stat.start_ticks == self.start_ticks)
    }

    /// `pid:start_ticks`, as recorded.
    pub fn parse(text: &str) -> Option<AgentProcess> {
        let (pid, start) = text.split_once(':')?;
        Some(AgentProcess { pid: pid.parse().ok()?, start_ticks: start.parse().ok()? })
    }
}

struct Stat {
    comm: String,
    ppid: u32,
    start_ticks: u64,
}

impl Stat {
    fn of(pid: u32) -> Option<Stat> {
        // One read into a buffer on the stack: this runs on every hook, and
        // `read_to_string` would stat the file and read it in growing pieces
        // (and std's open on musl adds an `fcntl` to set close-on-exec).
        let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
        let file = rustix::fs::open(format!("/proc/{pid}/stat"), flags, rustix::fs::Mode::empty()).ok()?;
        let mut buf = [0u8; 1024];
        let n = rustix::io::read(&file, &mut buf).ok()?;
        Stat::parse(std::str::from_utf8(&buf[..n]).ok()?)
    }

    /// `pid (comm) state ppid ... starttime ...`: the command may hold spaces
    /// and parentheses, so fields are counted from the last `)`.
    fn parse(text: &str) -> Option<Stat> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let comm = text.get(open + 1..close)?.to_string();
        let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
        // After the command: state (3), ppid (4), ... starttime (22).
        Some(Stat { comm, ppid: fields.get(1)?.parse().ok()?, start_ticks: fields.get(19)?.parse().ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_whatever_the_command_is_called() {
        let line = "4242 (my (odd) cmd) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3\n";
        let stat = Stat::parse(line).unwrap();
        assert_eq!((stat.comm.as_str(), stat.ppid, stat.start_ticks), ("my (odd) cmd", 17, 987654));
        assert!(Stat::parse("garbage").is_none());
    }

    #[test]
    fn this_process_has_a_living_deliverer() {
        let parent = delivering().expect("Linux has /proc");
        assert!(parent.is_alive());
        assert_eq!(AgentProcess::parse(&parent.to_string()), Some(parent));
        let gone = AgentProcess { start_ticks: parent.start_ticks + 1, ..parent };
        assert!(!gone.is_alive(), "a pid with another start time is another process");
    }
}

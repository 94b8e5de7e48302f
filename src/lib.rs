//! kaizen-hook: the capture half of kaizen. Coding agents run it from their
//! lifecycle hooks; it records each event into `$KAIZEN_HOME/sessions/`.
//!
//! `agents` holds what is each agent's own, one file per agent. The
//! pipeline, one module each: `input` (stdin under a deadline, capped),
//! `recognize` (agent, session, event, tool), `redact`, `enrich` (git, work
//! tree, OS), `store` (locked append, session record), `lifecycle` (how an
//! event changes the record). `cmd` holds one file per subcommand. The words
//! the layers share are leaves that import no layer: `phase` (`Phase`,
//! `Category`), `payload`, `call_id`. `tests/layers.rs` keeps the top-level
//! modules free of cycles.

// What the hook relies on is Linux's: /proc for the delivering process,
// CLOCK_BOOTTIME, O_PATH, GNU ld flags. CI builds and tests Linux only.
#[cfg(not(target_os = "linux"))]
compile_error!("kaizen-hook supports Linux only (see docs/design.md)");

pub mod agents;
pub mod alloc;
pub mod budget;
pub mod call_id;

pub mod cmd;
pub mod config;
pub mod cost;
pub mod enrich;
pub mod event;
pub mod export;
pub mod fit;
pub mod fuzzing;
pub mod hash;
pub mod inferred_end;
pub mod input;
pub mod install;
pub mod lifecycle;
pub mod log;
pub mod payload;
pub mod phase;
pub mod pipeline;
pub mod process;
pub mod recognize;
pub mod redact;
pub mod report;
pub mod store;
pub mod time;
pub mod transcript;

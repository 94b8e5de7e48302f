//! The hook subcommands: `pipeline` records the event; this replies. Whatever
//! happens, the agent sees exit 0 and at most a neutral JSON reply; problems
//! go to the log.

use crate::agents::AgentId;
use crate::config::Config;
use crate::log;
use crate::phase::Category;
use crate::pipeline::{self, Hook};
use crate::recognize::Observation;
use crate::time::Arrival;
use std::io::Write;

pub struct HookRun {
    pub category: Category,
    pub agent: Option<String>,
    pub event: Option<String>,
    /// The payload as the last argument (Codex `notify`).
    pub payload: Option<String>,
}

impl HookRun {
    pub fn run(&self, config: &Config, arrival: Arrival) {
        // Debug builds only: lets the test suite prove a panic is contained.
        if cfg!(debug_assertions) && std::env::var_os("KAIZEN_HOOK_TEST_PANIC").is_some() {
            panic!("KAIZEN_HOOK_TEST_PANIC is set");
        }
        let hook = Hook {
            category: self.category,
            agent: self.agent.as_deref(),
            event: self.event.as_deref(),
            payload: self.payload.as_deref(),
        };
        let (observation, problems) = pipeline::run(config, &hook, arrival);
        if !problems.is_empty() {
            let what =
                format!("{} {} {}", observation.agent.name(), self.category.subcommand(), observation.event_type);
            log::write(&config.home, &format!("{what}: {}", problems.join("; ")));
        }
        reply(&observation);
    }
}

/// The neutral reply, for agents that want one on stdout (Cursor): the
/// sender's rule, else the rule of the agent it was registered for.
fn reply(observation: &Observation) {
    let event = observation.sent_event_name.as_deref().unwrap_or("");
    let body = [Some(&observation.agent), observation.registered_agent.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(AgentId::known)
        .find_map(|agent| (agent.reply)(event));
    if let Some(body) = body {
        let _ = std::io::stdout().write_all(body.as_bytes());
    }
}

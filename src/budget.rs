//! One hook run's time, handed out in slices from a single start and total
//! (`KAIZEN_HOOK_BUDGET_MS`): stdin may take half, so an agent that leaves
//! the pipe open cannot starve the rest; enrichment stops a tenth before the
//! end, which is left for the lock and the write.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    started: Instant,
    total: Duration,
}

impl Budget {
    pub fn new(started: Instant, total: Duration) -> Budget {
        Budget { started, total }
    }

    /// When reading stdin gives up.
    pub fn stdin_deadline(&self) -> Instant {
        self.started + self.total / 2
    }

    /// When enrichment (the work-tree scan, git) gives up.
    pub fn enrich_deadline(&self) -> Instant {
        self.deadline() - self.total / 10
    }

    /// When waiting for the session's lock gives up and the event is spooled
    /// instead: a frozen holder must not cost it.
    pub fn lock_deadline(&self) -> Instant {
        self.started + self.total * 6 / 10
    }

    /// When reading the agent's transcripts stops, leaving time to write what
    /// was read (the rest is read at the next turn end).
    pub fn transcript_deadline(&self) -> Instant {
        self.started + self.total * 6 / 10
    }

    /// When the run must be done: the lock wait ends here.
    pub fn deadline(&self) -> Instant {
        self.started + self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_come_in_order_within_the_total() {
        let start = Instant::now();
        let b = Budget::new(start, Duration::from_millis(1000));
        assert_eq!(b.stdin_deadline() - start, Duration::from_millis(500));
        assert_eq!(b.enrich_deadline() - start, Duration::from_millis(900));
        assert_eq!(b.transcript_deadline() - start, Duration::from_millis(600));
        assert_eq!(b.deadline() - start, Duration::from_millis(1000));
    }
}

//! `report --html`: one self-contained page (no script, nothing fetched).

use super::SessionRow;
use super::tally::Tally;
use std::path::Path;

/// The page for these sessions' tally; `about` says the period and filters.
pub fn render(_home: &Path, tally: &Tally, sessions: &[&SessionRow], about: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kaizen report</title></head><body><h1>kaizen report</h1><p>{}</p><p>{} sessions, {} responses</p></body></html>\n",
        about.replace('&', "&amp;").replace('<', "&lt;"),
        sessions.len(),
        tally.total.responses
    )
}

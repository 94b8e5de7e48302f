//! The page's charts, drawn as inline SVG: stacked columns (cost per day by
//! model), horizontal bars (branches, agents, tools), a session's
//! waterfall, and differences with their intervals (a guidance change).
//! Colours are CSS classes, so light and dark come from the page's style;
//! every bar carries a `<title>` with its figures, so a chart says its
//! numbers to a screen reader or a hovering pointer.

use super::html::escape;
use std::fmt::Write;

/// One part of a bar: its size, its CSS class (a colour), what it says.
pub struct Segment {
    pub value: i64,
    pub class: &'static str,
    pub title: String,
}

/// A labelled bar of stacked segments.
pub struct Bar {
    pub label: String,
    pub segments: Vec<Segment>,
    /// Written at the bar's end: its total, formatted.
    pub note: String,
}

const WIDTH: f64 = 480.0;

/// Vertical stacked columns across the page, one per bar, on a scale of
/// round steps of `fmt`'s units.
pub fn columns(bars: &[Bar], fmt: fn(i64) -> String) -> String {
    let (width, height, top, left, bottom) = (1180.0, 250.0, 12.0, 64.0, 30.0);
    let plot_w = width - left - 8.0;
    let plot_h = height - top - bottom;
    let step = nice_step(bars.iter().map(total).max().unwrap_or(0).max(1) as f64 / 4.0);
    let lines = (bars.iter().map(total).max().unwrap_or(0).max(1) as f64 / step).ceil().max(1.0);
    let max = step * lines;
    let mut svg = open(width, height, "cost per day, stacked by model");
    for i in 0..=lines as u32 {
        let value = step * f64::from(i);
        let y = top + plot_h - plot_h * value / max;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            width - 8.0,
            left - 6.0,
            y + 4.0,
            fmt(value.round() as i64)
        );
    }
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.72).clamp(1.0, 56.0);
    // Label at most ~16 columns, so dates never overlap.
    let every = bars.len().div_ceil(16).max(1);
    for (i, bar) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = top + plot_h;
        for s in bar.segments.iter().filter(|s| s.value > 0) {
            let h = plot_h * s.value as f64 / max;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}"><title>{}</title></rect>"#,
                s.class,
                escape(&s.title)
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar_w / 2.0,
                height - bottom + 18.0,
                escape(&bar.label)
            );
        }
    }
    svg + "</svg>"
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `rough`: gridlines at round values.
fn nice_step(rough: f64) -> f64 {
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|&s| s >= rough).unwrap_or(10.0 * power)
}

/// Horizontal bars, largest first as given, label on the left and the
/// bar's note at its end.
pub fn bars(bars: &[Bar], what: &str) -> String {
    let (row, label_w, note_w) = (22.0, 140.0, 110.0);
    let plot_w = WIDTH - label_w - note_w;
    let height = row * bars.len() as f64 + 4.0;
    let max = bars.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let mut svg = open(WIDTH, height, what);
    for (i, bar) in bars.iter().enumerate() {
        let y = 2.0 + row * i as f64;
        let label = super::style::one_line(&bar.label, 22);
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}<title>{}</title></text>"#,
            label_w - 8.0,
            y + 15.0,
            escape(&label),
            escape(&bar.label)
        );
        let mut x = label_w;
        for s in bar.segments.iter().filter(|s| s.value > 0) {
            // At least a pixel: a bar that exists is seen.
            let w = (plot_w * s.value as f64 / max).max(1.0);
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="2"><title>{}</title></rect>"#,
                s.class,
                y + 3.0,
                row - 6.0,
                escape(&s.title)
            );
            x += w;
        }
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, x + 6.0, y + 15.0, escape(&bar.note));
    }
    svg + "</svg>"
}

/// A span of time on a waterfall row: a tool call from its start to its result.
pub struct Span {
    pub label: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub class: &'static str,
    pub title: String,
}

/// A point in time: a turn's start (a line across) or a model response (a dot).
pub struct Mark {
    pub at_ms: u64,
    pub class: &'static str,
    pub title: String,
}

/// A session's waterfall: turns as lines across, model responses as dots on
/// the top lane, then one row per tool call, placed by its start and as
/// wide as its latency, on a scale from the first event to `span_ms`.
pub fn waterfall(spans: &[Span], turns: &[Mark], responses: &[Mark], span_ms: u64) -> String {
    let (width, row, label_w, top) = (1180.0, 14.0, 130.0, 34.0);
    let plot_w = width - label_w - 40.0;
    let height = top + row * spans.len() as f64 + 6.0;
    let span = span_ms.max(1) as f64;
    let x_of = |ms: u64| label_w + plot_w * (ms as f64 / span).min(1.0);
    let mut svg = open(width, height, "timeline: turns, model responses and tool calls");
    for i in 0..=4 {
        let ms = span_ms * i / 4;
        let x = x_of(ms);
        let anchor = if i == 4 { "end" } else { "start" };
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="14" y2="{height:.1}"/><text x="{x:.1}" y="10" text-anchor="{anchor}">+{}</text>"#,
            super::duration(ms)
        );
    }
    let _ = write!(svg, r#"<text x="{:.1}" y="26" text-anchor="end">responses</text>"#, label_w - 8.0);
    for m in responses {
        let _ = write!(
            svg,
            r#"<circle class="{}" cx="{:.1}" cy="22" r="4"><title>{}</title></circle>"#,
            m.class,
            x_of(m.at_ms),
            escape(&m.title)
        );
    }
    for m in turns {
        let x = x_of(m.at_ms);
        let _ = write!(
            svg,
            r#"<line class="{}" x1="{x:.1}" x2="{x:.1}" y1="14" y2="{height:.1}"><title>{}</title></line>"#,
            m.class,
            escape(&m.title)
        );
    }
    for (i, s) in spans.iter().enumerate() {
        let y = top + row * i as f64;
        let x = x_of(s.start_ms);
        let w = (x_of(s.end_ms) - x).max(2.0);
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="{}" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="1.5"><title>{}</title></rect>"#,
            label_w - 8.0,
            y + 10.0,
            escape(&super::style::one_line(&s.label, 18)),
            s.class,
            y + 2.0,
            row - 4.0,
            escape(&s.title)
        );
    }
    svg + "</svg>"
}

/// A difference and its 95 % interval, on a scale shared by every row.
pub struct Whisker {
    pub label: String,
    /// The difference: `None` draws no bar (the note says why).
    pub value: Option<f64>,
    /// The interval's ends: `None` draws no whiskers.
    pub interval: Option<(f64, f64)>,
    pub class: &'static str,
    pub title: String,
    /// Written right of the plot: the difference and the verdict, in words.
    pub note: String,
}

/// Differences as bars from a zero line, each with its interval as
/// whiskers, on one scale symmetric around 0 (`fmt` writes its ends).
pub fn whiskers(rows: &[Whisker], what: &str, fmt: fn(f64) -> String) -> String {
    let (width, row, label_w, note_w, top) = (940.0, 24.0, 150.0, 380.0, 20.0);
    let plot_w = width - label_w - note_w;
    let height = top + row * rows.len() as f64 + 4.0;
    let reach = rows
        .iter()
        .flat_map(|r| r.value.into_iter().chain(r.interval.into_iter().flat_map(|(l, h)| [l, h])))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    let reach = nice_step(reach.max(1e-9));
    let x_of = |v: f64| label_w + plot_w * (0.5 + v.clamp(-reach, reach) / (2.0 * reach));
    let mut svg = open(width, height, what);
    for (v, anchor) in [(-reach, "start"), (0.0, "middle"), (reach, "end")] {
        let x = x_of(v);
        let class = if v == 0.0 { "zero" } else { "grid" };
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{height:.1}"/><text x="{x:.1}" y="12" text-anchor="{anchor}">{}</text>"#,
            top - 4.0,
            escape(&fmt(v))
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + row * i as f64;
        let mid = y + row / 2.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><g><title>{}</title>"#,
            label_w - 8.0,
            mid + 4.0,
            escape(&r.label),
            escape(&r.title)
        );
        if let Some(v) = r.value.filter(|v| v.is_finite()) {
            let (a, b) = (x_of(0.0), x_of(v));
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="2"/>"#,
                r.class,
                a.min(b),
                y + 6.0,
                (b - a).abs().max(1.0),
                row - 12.0
            );
        }
        if let Some((low, high)) = r.interval.filter(|(l, h)| l.is_finite() && h.is_finite()) {
            let (l, h) = (x_of(low), x_of(high));
            let _ = write!(
                svg,
                r#"<path class="whisker" d="M{l:.1} {mid:.1}H{h:.1}M{l:.1} {:.1}V{:.1}M{h:.1} {:.1}V{:.1}"/>"#,
                y + 4.0,
                y + row - 4.0,
                y + 4.0,
                y + row - 4.0
            );
        }
        let _ = write!(
            svg,
            r#"</g><text x="{:.1}" y="{:.1}">{}</text>"#,
            width - note_w + 10.0,
            mid + 4.0,
            escape(&r.note)
        );
    }
    svg + "</svg>"
}

fn total(bar: &Bar) -> i64 {
    bar.segments.iter().map(|s| s.value.max(0)).sum()
}

fn open(width: f64, height: f64, label: &str) -> String {
    format!(
        r#"<svg role="img" aria-label="{label}" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}">"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn scales_step_in_round_values() {
        assert_eq!(super::nice_step(0.7), 1.0);
        assert_eq!(super::nice_step(69_625.0), 100_000.0);
        assert_eq!(super::nice_step(21_000.0), 25_000.0);
        assert_eq!(super::nice_step(3.0), 5.0);
    }
}

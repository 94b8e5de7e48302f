//! Terminal output: colour only on a TTY and without `NO_COLOR`; lines cut to
//! the terminal's width on a TTY, whole when piped (for `grep` and `less`).

use std::io::IsTerminal;

pub struct Style {
    pub color: bool,
    pub width: Option<usize>,
}

impl Style {
    pub fn detect() -> Style {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { color: tty && !no_color, width: if tty { terminal_width() } else { None } }
    }

    /// No colour, whole lines: for a file.
    pub fn plain() -> Style {
        Style { color: false, width: None }
    }

    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Cuts `line` to the terminal width, counting only visible characters
    /// (colour codes pass through and do not count).
    pub fn fit(&self, line: &str) -> String {
        let Some(width) = self.width else { return line.to_string() };
        let mut out = String::with_capacity(line.len());
        let mut visible = 0;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                out.push(c);
                for code in chars.by_ref() {
                    out.push(code);
                    if code == 'm' {
                        break;
                    }
                }
                continue;
            }
            if visible + 1 == width && chars.clone().any(|rest| rest != '\x1b') {
                out.push('…');
                if self.color {
                    out.push_str("\x1b[0m");
                }
                return out;
            }
            out.push(c);
            visible += 1;
        }
        out
    }
}

fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    // TIOCGWINSZ on stdout.
    let size = rustix::termios::tcgetwinsize(rustix::stdio::stdout()).ok()?;
    (size.ws_col > 0).then_some(size.ws_col as usize)
}

/// Cuts text to `max` characters, on one line.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_counts_only_visible_characters() {
        let style = Style { color: true, width: Some(5) };
        let red = style.red("abcdefgh");
        assert_eq!(style.fit(&red), "\x1b[31mabcd…\x1b[0m");
        assert_eq!(style.fit(&style.red("abc")), style.red("abc"), "short lines are left alone");
        let plain = Style { color: false, width: Some(5) };
        assert_eq!(plain.fit("abcdefgh"), "abcd…");
        assert_eq!(plain.fit("abcde"), "abcde");
        assert_eq!(Style { color: false, width: None }.fit("abcdefgh"), "abcdefgh");
    }
}

//! A line diff for `--dry-run`: what install would change, `-` and `+`.

use similar::{ChangeTag, TextDiff};

pub fn render(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut out = String::new();
    for change in TextDiff::from_slices(&a, &b).iter_all_changes() {
        let sign = match change.tag() {
            ChangeTag::Equal => ' ',
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
        };
        out.push_str(&format!("{sign} {}\n", change.value()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_added_and_removed_lines() {
        assert_eq!(super::render("a\nb\nc", "a\nx\nc"), "  a\n- b\n+ x\n  c\n");
        assert_eq!(super::render("", "n"), "+ n\n");
    }
}

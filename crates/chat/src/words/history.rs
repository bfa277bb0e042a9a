//! `!audit`: a resident's last audit entries, as root says them, in a code block (they
//! quote what residents and users wrote).

pub fn history(resident: &str, lines: &[String]) -> String {
    if lines.is_empty() {
        return format!("_The audit log has nothing about {resident} yet._");
    }
    format!(
        "**{resident} in the audit log** (last {}, oldest first; `townhall audit --resident {resident}` has all of it):\n{}",
        lines.len(),
        townhall_wire::markdown::fenced(&lines.join("\n"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_fenced_so_their_words_stay_words() {
        let said = history("ada", &["2026-12-04T07:00:00Z  push **bold**".into()]);
        assert!(
            said.contains("```\n2026-12-04T07:00:00Z  push **bold**\n```"),
            "{said}"
        );
        assert!(history("ada", &[]).contains("nothing about ada"));
    }
}

//! Untrusted text in markdown that crosses to a room: the serial console's batches and an
//! approval's subject are a resident's words, and must not break out of their block.

/// `text` in a code block whose fence nothing inside can close (one backtick longer than
/// its longest run).
pub fn fenced(text: &str) -> String {
    let mut run = 0;
    let longest = text.chars().fold(0, |m, c| {
        run = if c == '`' { run + 1 } else { 0 };
        m.max(run)
    });
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}\n{}\n{fence}", text.trim_end_matches('\n'))
}

/// `text` as a block quote: every line of it inside the quote, blank ones too, so that
/// nothing it says reads as the bot's own words around it.
pub fn quoted(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Matrix users as links clients show as their display names ("pills"), space-separated:
/// the body's half of a mention (m.mentions is the other, which makes phones ring).
pub fn pills(users: &[String]) -> String {
    let each: Vec<String> = users
        .iter()
        .map(|u| format!("[{u}](https://matrix.to/#/{u})"))
        .collect();
    each.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_stays_in_the_quote() {
        assert_eq!(quoted("a\n\nb\n"), "> a\n> \n> b");
    }

    #[test]
    fn no_run_of_backticks_inside_closes_the_fence() {
        assert_eq!(fenced("a"), "```\na\n```");
        assert_eq!(fenced("x ```` y\n"), "`````\nx ```` y\n`````");
    }
}

//! A conversation's mode in words: what `!model`, `!effort` and `!plan` answer, and the
//! line `!status` adds.

use townhall_wire::hall::Mode;

/// `model opus · effort high · plan mode`, or nothing for the CLI's defaults.
pub fn mode_line(m: &Mode) -> String {
    let mut parts = Vec::new();
    if let Some(model) = &m.model {
        parts.push(format!("model `{model}`"));
    }
    if let Some(e) = &m.effort {
        parts.push(format!("effort `{e}`"));
    }
    if m.plan {
        parts.push("plan mode (it plans, and changes nothing)".into());
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!("_This conversation: {}._", parts.join(" · ")),
    }
}

pub fn mode(resident: &str, m: &Mode, kind: &str, models: &[String], changed: bool) -> String {
    let now = match mode_line(m) {
        l if l.is_empty() => format!("_This conversation runs {kind}'s defaults._"),
        l => l,
    };
    let head = match changed {
        true => format!("_From {resident}'s next turn here:_ "),
        false => String::new(),
    };
    let choice = match models.is_empty() {
        true => String::new(),
        false => {
            let listed: Vec<String> = models.iter().map(|m| format!("`{m}`")).collect();
            format!(" Models: {}.", listed.join(", "))
        }
    };
    format!("{head}{now}{choice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_reads_as_one_line_and_the_default_as_none() {
        let m = Mode {
            model: Some("opus".into()),
            effort: None,
            plan: true,
        };
        assert_eq!(
            mode("ada", &m, "claude", &["opus".into(), "sonnet".into()], true),
            "_From ada's next turn here:_ _This conversation: model `opus` · plan mode (it plans, and changes nothing)._ Models: `opus`, `sonnet`."
        );
        assert_eq!(mode_line(&Mode::default()), "");
        assert_eq!(
            mode("ada", &Mode::default(), "claude", &[], false),
            "_This conversation runs claude's defaults._"
        );
    }
}

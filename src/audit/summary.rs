//! An audit entry said in one line, for `townhall audit` and `!audit`: the kinds a mayor
//! asks about most in words, the rest as their detail, clipped.

use serde_json::Value;

use super::Entry;

/// The longest line a summary makes.
const MAX: usize = 300;

fn s<'v>(d: &'v Value, key: &str) -> &'v str {
    d.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// What happened, without the time.
pub fn summary(e: &Entry) -> String {
    let d = &e.detail;
    let line = match e.kind.as_str() {
        "turn" => {
            let spent = d
                .get("usd")
                .and_then(Value::as_f64)
                .map(|u| format!(", ${u:.4}"))
                .unwrap_or_default();
            format!(
                "{}'s turn in {}: {}{spent}",
                s(d, "resident"),
                s(d, "conversation"),
                s(d, "result")
            )
        }
        "reset" => {
            let who: Vec<&str> = d
                .get("residents")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "round {} ended for {} by {}",
                d.get("round").and_then(Value::as_u64).unwrap_or_default(),
                who.join(", "),
                s(d, "by")
            )
        }
        "push" => format!(
            "{} pushed {} to {} ({})",
            s(d, "resident"),
            s(d, "refname"),
            s(d, "repo"),
            s(d, "commits")
        ),
        "approval-asked" => format!(
            "{} asked to run {}: {}",
            s(d, "resident"),
            s(d, "tool"),
            s(d, "subject")
        ),
        "approval-decided" => format!(
            "{}'s {}: {}",
            s(d, "resident"),
            s(d, "tool"),
            s(d, "reason")
        ),
        "lease" | "release" => format!(
            "{} {} {} by {} until {}",
            e.kind,
            s(d, "devnode"),
            s(d, "resident"),
            s(d, "by"),
            s(d, "until")
        ),
        _ => format!("{}: {d}", e.kind),
    };
    // What residents wrote is in it: no control character reaches a terminal.
    let plain: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::turn::bounds::clip(&plain, MAX).to_string()
}

/// `TIME  summary`.
pub fn line(e: &Entry) -> String {
    format!("{}  {}", e.time, summary(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, detail: Value) -> Entry {
        Entry {
            time: "2026-12-04T07:00:00Z".into(),
            kind: kind.into(),
            detail,
        }
    }

    #[test]
    fn each_kind_reads_as_a_line() {
        let reset = entry(
            "reset",
            serde_json::json!({"round": 4, "residents": ["ada"], "by": "@mayor:t"}),
        );
        assert_eq!(
            line(&reset),
            "2026-12-04T07:00:00Z  round 4 ended for ada by @mayor:t"
        );
        let turn = entry(
            "turn",
            serde_json::json!({"resident": "ada", "conversation": "!r", "result": "success", "usd": 0.25}),
        );
        assert_eq!(summary(&turn), "ada's turn in !r: success, $0.2500");
        let other = entry("sign", serde_json::json!({"resident": "ada"}));
        assert_eq!(summary(&other), r#"sign: {"resident":"ada"}"#);
        let escape = entry(
            "approval-asked",
            serde_json::json!({"resident": "ada", "tool": "Bash", "subject": "echo \u{1b}]0;owned\u{7}"}),
        );
        assert!(
            !summary(&escape).chars().any(char::is_control),
            "{:?}",
            summary(&escape)
        );
        let long = entry("tool", serde_json::json!({"said": "x\n".repeat(400)}));
        assert!(!summary(&long).contains('\n') && summary(&long).len() <= MAX + 4);
    }
}

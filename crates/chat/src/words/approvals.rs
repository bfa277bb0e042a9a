//! `!approvals`: the rules a resident's approvers allowed for the rest of its round (🔁).

use townhall_wire::hall::RoundRule;

pub fn approvals(resident: &str, rules: &[RoundRule], cleared: bool) -> String {
    let head = match cleared {
        true => format!("_Taken back: {resident}'s calls ask again._ "),
        false => String::new(),
    };
    if rules.is_empty() {
        return format!(
            "{head}_Nothing is allowed for the rest of {resident}'s round; 🔁 on an approval allows its rule until the round ends._"
        );
    }
    let lines: Vec<String> = rules
        .iter()
        .map(|r| format!("- `{}` by {}", r.rule.replace('`', "'"), r.by))
        .collect();
    format!(
        "**Allowed for the rest of {resident}'s round** (`!approvals clear` takes them back):\n{}",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_listed_with_who_allowed_them() {
        let rules = [RoundRule {
            rule: "Bash(git push*)".into(),
            by: "@mayor:t".into(),
        }];
        assert_eq!(
            approvals("ada", &rules, false),
            "**Allowed for the rest of ada's round** (`!approvals clear` takes them back):\n- `Bash(git push*)` by @mayor:t"
        );
        assert!(
            approvals("ada", &[], true)
                .starts_with("_Taken back: ada's calls ask again._ _Nothing")
        );
    }
}

//! A conversation's mode as each kind's flags: `--model`, the effort, and plan mode (claude's
//! plan permission mode; codex's read-only sandbox; gemini's plan approval mode). A mode
//! replaces what the argv or the defaults chose for the same thing, so a CLI is never given
//! two answers to one question.

use crate::config::AgentKind;
use townhall_wire::hall::Mode;

/// Flags that take a value and flags that do not, which choose one thing.
struct Choice {
    valued: &'static [&'static str],
    bare: &'static [&'static str],
}

fn model(kind: AgentKind) -> Choice {
    let valued: &[&str] = match kind {
        AgentKind::Claude => &["--model"],
        AgentKind::Codex | AgentKind::Gemini => &["-m", "--model"],
        AgentKind::Command => &[],
    };
    Choice { valued, bare: &[] }
}

/// What chooses how the CLI asks for permission (or its sandbox).
fn permissions(kind: AgentKind) -> Choice {
    match kind {
        AgentKind::Claude => Choice {
            valued: &["--permission-mode"],
            bare: &["--dangerously-skip-permissions"],
        },
        AgentKind::Codex => Choice {
            valued: &["-s", "--sandbox", "-a", "--ask-for-approval"],
            bare: &["--full-auto", "--dangerously-bypass-approvals-and-sandbox"],
        },
        AgentKind::Gemini => Choice {
            valued: &["--approval-mode"],
            bare: &["--yolo", "-y"],
        },
        AgentKind::Command => Choice {
            valued: &[],
            bare: &[],
        },
    }
}

/// `argv` without the flags of `c` (and their values).
fn without(argv: Vec<String>, c: &Choice) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut skip_value = false;
    for a in argv {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if c.bare.contains(&a.as_str()) {
            continue;
        }
        if c.valued.contains(&a.as_str()) {
            skip_value = true;
            continue;
        }
        if c.valued.iter().any(|f| a.starts_with(&format!("{f}="))) {
            continue;
        }
        out.push(a);
    }
    out
}

/// The resident's own argv, without what the mode decides instead.
pub fn argv_for(kind: AgentKind, argv: &[String], mode: &Mode) -> Vec<String> {
    let mut argv = argv.to_vec();
    if mode.model.is_some() {
        argv = without(argv, &model(kind));
    }
    if mode.plan {
        argv = without(argv, &permissions(kind));
    }
    argv
}

/// The mode's own flags.
pub fn flags(kind: AgentKind, mode: &Mode) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = &mode.model {
        let flag = match kind {
            AgentKind::Claude => "--model",
            AgentKind::Codex | AgentKind::Gemini => "-m",
            AgentKind::Command => return Vec::new(),
        };
        out.extend([flag.to_string(), m.clone()]);
    }
    if let Some(e) = &mode.effort {
        match kind {
            AgentKind::Claude => out.extend(["--effort".to_string(), e.clone()]),
            AgentKind::Codex => {
                out.extend(["-c".into(), format!("model_reasoning_effort=\"{e}\"")])
            }
            AgentKind::Gemini | AgentKind::Command => {}
        }
    }
    if mode.plan {
        let plan: &[&str] = match kind {
            AgentKind::Claude => &["--permission-mode", "plan"],
            AgentKind::Codex => &["-s", "read-only"],
            AgentKind::Gemini => &["--approval-mode", "plan"],
            AgentKind::Command => &[],
        };
        out.extend(plan.iter().map(|s| s.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plan_mode_replaces_the_permission_flags_the_argv_chose() {
        let plan = Mode {
            model: Some("opus".into()),
            effort: Some("high".into()),
            plan: true,
        };
        let argv = v(&[
            "claude",
            "--dangerously-skip-permissions",
            "--model=sonnet",
            "--verbose",
        ]);
        assert_eq!(
            argv_for(AgentKind::Claude, &argv, &plan),
            v(&["claude", "--verbose"])
        );
        assert_eq!(
            flags(AgentKind::Claude, &plan),
            v(&[
                "--model",
                "opus",
                "--effort",
                "high",
                "--permission-mode",
                "plan"
            ])
        );
        let codex = v(&["codex", "-s", "danger-full-access", "-m", "o3"]);
        assert_eq!(argv_for(AgentKind::Codex, &codex, &plan), v(&["codex"]));
        assert_eq!(
            flags(AgentKind::Codex, &plan),
            v(&[
                "-m",
                "opus",
                "-c",
                "model_reasoning_effort=\"high\"",
                "-s",
                "read-only"
            ])
        );
        assert_eq!(
            flags(AgentKind::Gemini, &plan),
            v(&["-m", "opus", "--approval-mode", "plan"])
        );
        let none = Mode::default();
        assert_eq!(argv_for(AgentKind::Claude, &argv, &none), argv);
        assert!(flags(AgentKind::Claude, &none).is_empty());
    }
}

//! Each conversation's mode (`!model`, `!effort`, `!plan`), kept in the root-only state
//! dir so that it holds across messages, restarts and rounds; and which changes a kind of
//! CLI takes. The flags each kind gets for a mode are in `drivers::invoke`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::{AgentKind, Resident};
use crate::os::OsError;
use townhall_wire::hall::{Mode, ModeChange};

/// The effort levels each kind's CLI takes (claude's `--effort`, codex's
/// `model_reasoning_effort`); none for gemini and command agents.
pub fn efforts(kind: AgentKind) -> &'static [&'static str] {
    match kind {
        AgentKind::Claude => &["low", "medium", "high", "xhigh", "max"],
        AgentKind::Codex => &["minimal", "low", "medium", "high", "xhigh"],
        AgentKind::Gemini | AgentKind::Command => &[],
    }
}

fn kind_name(kind: AgentKind) -> String {
    format!("{kind:?}").to_lowercase()
}

/// Why a mode is not changed: the words a mayor reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoMode {
    #[error(
        "{resident} declares no models to choose from: list them in residents/{resident}.toml, [agent] models = [\"…\"]"
    )]
    NoModels { resident: String },
    #[error("`{model}` is not one of {resident}'s models ({models}); declare it in [agent] models")]
    NotDeclared {
        resident: String,
        model: String,
        models: String,
    },
    #[error("not for {kind}: its CLI has no effort setting")]
    NoEffort { kind: String },
    #[error("`{effort}` is not an effort {kind} takes: one of {levels}")]
    BadEffort {
        kind: String,
        effort: String,
        levels: String,
    },
    #[error("not for a command agent: townhall passes it no model, effort or plan mode")]
    Command,
}

/// `mode` with `change` made, when `r`'s kind takes it.
pub fn changed(r: &Resident, mode: &Mode, change: &ModeChange) -> Result<Mode, NoMode> {
    let kind = r.agent.kind;
    if kind == AgentKind::Command && *change != ModeChange::Show {
        return Err(NoMode::Command);
    }
    let mut next = mode.clone();
    match change {
        ModeChange::Show => {}
        ModeChange::Model(None) => next.model = None,
        ModeChange::Model(Some(m)) => {
            if r.agent.models.is_empty() {
                return Err(NoMode::NoModels {
                    resident: r.name.clone(),
                });
            }
            if !r.agent.models.contains(m) {
                return Err(NoMode::NotDeclared {
                    resident: r.name.clone(),
                    model: m.clone(),
                    models: r.agent.models.join(", "),
                });
            }
            next.model = Some(m.clone());
        }
        ModeChange::Effort(None) => next.effort = None,
        ModeChange::Effort(Some(e)) => {
            let levels = efforts(kind);
            if levels.is_empty() {
                return Err(NoMode::NoEffort {
                    kind: kind_name(kind),
                });
            }
            if !levels.contains(&e.as_str()) {
                return Err(NoMode::BadEffort {
                    kind: kind_name(kind),
                    effort: e.clone(),
                    levels: levels.join(", "),
                });
            }
            next.effort = Some(e.clone());
        }
        ModeChange::Plan(on) => next.plan = *on,
    }
    Ok(next)
}

/// What of a kept `mode` `r` still takes: a model no longer declared, or an effort its kind
/// (maybe changed since) does not have, is dropped rather than passed to the CLI.
pub fn still(r: &Resident, mode: &Mode) -> Mode {
    let kind = r.agent.kind;
    Mode {
        model: mode
            .model
            .clone()
            .filter(|m| r.agent.models.contains(m) && kind != AgentKind::Command),
        effort: mode
            .effort
            .clone()
            .filter(|e| efforts(kind).contains(&e.as_str())),
        plan: mode.plan && kind != AgentKind::Command,
    }
}

/// The modes of conversations that have one, by `resident/conversation`.
pub struct Modes {
    path: PathBuf,
    map: Mutex<BTreeMap<String, Mode>>,
}

fn key(resident: &str, conversation: &str) -> String {
    format!("{resident}/{conversation}")
}

impl Modes {
    pub fn load(state: &Path) -> Result<Self, OsError> {
        let path = state.join("modes.json");
        let help = "it holds the conversations' models, efforts and plan modes; move it away and every conversation runs with the CLI's defaults";
        let map = crate::os::read_state(&path, help)?.unwrap_or_default();
        Ok(Self {
            path,
            map: Mutex::new(map),
        })
    }

    pub fn get(&self, resident: &str, conversation: &str) -> Mode {
        let map = self.map.lock().expect("lock");
        map.get(&key(resident, conversation))
            .cloned()
            .unwrap_or_default()
    }

    /// Keep `mode` for the conversation (the default is kept as no entry).
    pub fn set(&self, resident: &str, conversation: &str, mode: Mode) -> Result<(), OsError> {
        let mut map = self.map.lock().expect("lock");
        match mode.is_default() {
            true => map.remove(&key(resident, conversation)),
            false => map.insert(key(resident, conversation), mode),
        };
        crate::os::write_state(&self.path, &*map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident(kind: AgentKind, models: &[&str]) -> Resident {
        let mut r = crate::testing::demo_town().residents[0].clone();
        r.agent.kind = kind;
        r.agent.models = models.iter().map(|m| m.to_string()).collect();
        r
    }

    #[test]
    fn only_declared_models_and_the_kinds_efforts_are_taken() {
        let ada = resident(AgentKind::Claude, &["opus", "sonnet"]);
        let m = changed(
            &ada,
            &Mode::default(),
            &ModeChange::Model(Some("opus".into())),
        )
        .unwrap();
        let m = changed(&ada, &m, &ModeChange::Effort(Some("high".into()))).unwrap();
        let m = changed(&ada, &m, &ModeChange::Plan(true)).unwrap();
        assert_eq!(
            m,
            Mode {
                model: Some("opus".into()),
                effort: Some("high".into()),
                plan: true
            }
        );
        let not = changed(&ada, &m, &ModeChange::Model(Some("haiku".into()))).unwrap_err();
        assert!(
            not.to_string()
                .contains("not one of ada's models (opus, sonnet)"),
            "{not}"
        );
        assert!(changed(&ada, &m, &ModeChange::Effort(Some("huge".into()))).is_err());
        assert_eq!(
            changed(&ada, &m, &ModeChange::Model(None)).unwrap().model,
            None
        );
        let vox = resident(AgentKind::Gemini, &[]);
        assert!(matches!(
            changed(&vox, &Mode::default(), &ModeChange::Model(Some("x".into()))),
            Err(NoMode::NoModels { .. })
        ));
        assert_eq!(
            changed(
                &vox,
                &Mode::default(),
                &ModeChange::Effort(Some("high".into()))
            )
            .unwrap_err()
            .to_string(),
            "not for gemini: its CLI has no effort setting"
        );
        let cmd = resident(AgentKind::Command, &[]);
        assert_eq!(
            changed(&cmd, &Mode::default(), &ModeChange::Plan(true)),
            Err(NoMode::Command)
        );
    }

    #[test]
    fn what_the_config_no_longer_declares_is_dropped_at_the_turn() {
        let kept = Mode {
            model: Some("opus".into()),
            effort: Some("max".into()),
            plan: true,
        };
        let now = resident(AgentKind::Codex, &["o3"]);
        assert_eq!(
            still(&now, &kept),
            Mode {
                model: None,
                effort: None,
                plan: true
            }
        );
    }

    #[test]
    fn a_mode_is_kept_per_conversation_and_the_default_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let modes = Modes::load(dir.path()).unwrap();
        let plan = Mode {
            plan: true,
            ..Mode::default()
        };
        modes.set("ada", "!r", plan.clone()).unwrap();
        let again = Modes::load(dir.path()).unwrap();
        assert_eq!(again.get("ada", "!r"), plan);
        assert_eq!(again.get("ada", "!other"), Mode::default());
        again.set("ada", "!r", Mode::default()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("modes.json"))
                .unwrap()
                .trim(),
            "{}"
        );
    }
}

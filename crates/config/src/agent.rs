//! A resident's [agent] and [budget] tables: what runs its turns, and what they may spend.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::raw::AgentKind;
use super::validate::Checker;
use super::values as v;
use super::{Agent, Budget};
use toml::Spanned;

pub(super) fn budget(c: &mut Checker, raw: &super::raw::RawBudget) -> Budget {
    let usd = |c: &mut Checker, v: &Option<toml::Spanned<f64>>| {
        v.as_ref().and_then(|u| {
            let ok = Some(*u.get_ref())
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or(format!("{} is not an amount of dollars", u.get_ref()));
            c.ok(u, ok, "write a number of US dollars, e.g. 5.0")
        })
    };
    let tokens = |c: &mut Checker, v: &Option<toml::Spanned<i64>>| {
        v.as_ref().and_then(|t| {
            let ok = u64::try_from(*t.get_ref())
                .map_err(|_| format!("{} is not a number of tokens", t.get_ref()));
            c.ok(
                t,
                ok,
                "write a number of tokens (input and output together), e.g. 2000000",
            )
        })
    };
    let d = Budget::default();
    Budget {
        usd: usd(c, &raw.usd),
        tokens: tokens(c, &raw.tokens),
        show_from_usd: usd(c, &raw.show_from_usd).unwrap_or(d.show_from_usd),
        show_from_tokens: tokens(c, &raw.show_from_tokens).unwrap_or(d.show_from_tokens),
    }
}

pub(super) fn agent(c: &mut Checker, raw: super::raw::RawAgent, gate: &super::Gate) -> Agent {
    let kind = *raw.kind.get_ref();
    let argv = match (&raw.argv, kind) {
        (Some(a), _) if a.get_ref().first().is_none_or(|p| p.is_empty()) => {
            c.err(
                a,
                "argv is empty",
                "write the program and its fixed arguments, e.g. [\"/usr/local/bin/my-agent\"]",
            );
            Vec::new()
        }
        (Some(a), _) => a.get_ref().clone(),
        (None, AgentKind::Command) => {
            c.err(
                &raw.kind,
                "a `command` agent needs `argv`",
                "add argv = [\"/path/to/program\", …]",
            );
            Vec::new()
        }
        (None, AgentKind::Claude) => vec!["claude".into()],
        (None, AgentKind::Codex) => vec!["codex".into()],
        (None, AgentKind::Gemini) => vec!["gemini".into()],
    };
    let workspace = match &raw.workspace {
        Some(w) => c
            .ok(
                w,
                v::home_relative(w.get_ref()),
                "write a path relative to the home, e.g. work",
            )
            .unwrap_or_default(),
        None => PathBuf::from("work"),
    };
    let mut environment = BTreeMap::new();
    for (k, val) in raw.environment {
        if c.ok(
            &k,
            v::env_name(k.get_ref()),
            "use letters, digits and `_`, not starting with a digit",
        )
        .is_some()
        {
            environment.insert(k.into_inner(), val);
        }
    }
    let environment_files = raw
        .environment_files
        .iter()
        .filter_map(|f| {
            c.ok(
                f,
                v::absolute(f.get_ref()),
                "write an absolute path the resident can read",
            )
        })
        .collect();
    let defaults = raw.defaults.as_ref().is_none_or(|d| *d.get_ref());
    let base_url = raw.base_url.as_ref().and_then(|u| {
        c.ok(
            u,
            v::base_url(u.get_ref()).map(|_| u.get_ref().trim_end_matches('/').to_string()),
            "write an http:// or https:// URL, e.g. \"http://127.0.0.1:8080\"",
        )
    });
    let api = super::gate::resident_api(c, &raw.api, kind, base_url.is_some(), gate);
    // Through the gate, the CLI's base URL is the gate's.
    let base_url = match &api {
        Some(_) => Some(gate.url()),
        None => base_url,
    };
    if base_url.is_some()
        && kind == AgentKind::Command
        && let Some(u) = &raw.base_url
    {
        c.err(
            u,
            "a `command` agent has no model API for townhall to point",
            "set the URL in its environment instead",
        );
    }
    let approve: Vec<crate::rule::Rule> = raw
        .approve
        .iter()
        .filter_map(|r| {
            c.ok(
                r,
                crate::rule::parse(r.get_ref()),
                "see docs/config.md, [agent] approve",
            )
        })
        .collect();
    if !matches!(kind, AgentKind::Claude | AgentKind::Gemini)
        && let Some(first) = raw.approve.first()
    {
        // Better refused than silently not enforced.
        c.err(first, format!("approvals are enforced for claude and gemini only, not {}", format!("{kind:?}").to_lowercase()), "codex exec cannot ask anyone mid-turn, and a command agent has no hook; remove `approve`");
    }
    let approve_timeout = raw
        .approve_timeout
        .as_ref()
        .and_then(|t| {
            c.ok(
                t,
                v::duration(t.get_ref()),
                "write a duration such as \"5m\"",
            )
        })
        .unwrap_or(super::DEFAULT_APPROVE_TIMEOUT);
    let models = models(c, kind, &raw.models);
    Agent {
        kind,
        argv,
        workspace,
        environment,
        environment_files,
        defaults,
        base_url,
        api,
        // With a gate, the kernel closes every other way out: tools go through its proxy.
        proxy: (!gate.apis.is_empty()).then(|| gate.url()),
        approve,
        approve_timeout,
        models,
    }
}

/// `[agent] models`: names the CLI's `--model` takes, one argv word each; none for a
/// command agent, which has no model flag townhall knows.
fn models(c: &mut Checker, kind: AgentKind, raw: &[Spanned<String>]) -> Vec<String> {
    if kind == AgentKind::Command
        && let Some(first) = raw.first()
    {
        c.err(
            first,
            "a `command` agent has no model for townhall to choose",
            "remove `models`, or pass the model in its argv",
        );
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for m in raw {
        let name = m.get_ref();
        let fine = !name.is_empty()
            && name.len() <= 100
            && !name.starts_with('-')
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._:/@[]-".contains(ch));
        if !fine {
            c.err(
                m,
                format!("`{name}` is not a model name"),
                "write the name the CLI's --model takes, e.g. \"sonnet\" or \"gpt-5.2-codex\"",
            );
        } else if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

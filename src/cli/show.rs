//! Human-readable renderings of the town, residents and status.

use std::fmt::Write;
use std::path::PathBuf;

use townhall::config::{Resident, Town};
use townhall::control::StatusReport;
use townhall::round::ResetPlan;

fn paths(p: &[PathBuf]) -> String {
    if p.is_empty() {
        "-".into()
    } else {
        p.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn town(t: &Town) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "town {} ({} residents, config {})",
        t.name,
        t.residents.len(),
        t.dir.display()
    );
    let _ = writeln!(
        s,
        "  agents   {} = {} (blank {})",
        t.agents.display(),
        t.live_path().display(),
        t.blank_path().display()
    );
    let _ = writeln!(s, "  persist  {}", t.persist.display());
    let _ = writeln!(s, "  state    {}", t.state.display());
    let _ = writeln!(
        s,
        "  accounts {}",
        serde_json::to_string(&t.accounts)
            .unwrap_or_default()
            .trim_matches('"')
    );
    let _ = writeln!(
        s,
        "  matrix   {} (mayors: {})",
        t.matrix.homeserver,
        t.matrix.mayors.join(", ")
    );
    s.push_str(&resident_table(t));
    s
}

pub fn resident_table(t: &Town) -> String {
    let mut s = format!(
        "{:<12} {:>6}  {:<8} {:<24} {}\n",
        "RESIDENT", "UID", "AGENT", "MATRIX", "PERSISTS"
    );
    for r in &t.residents {
        let kept: Vec<_> = r.persist.paths().cloned().collect();
        let kind = format!("{:?}", r.agent.kind).to_lowercase();
        let _ = writeln!(
            s,
            "{:<12} {:>6}  {:<8} {:<24} {}",
            r.name,
            r.uid,
            kind,
            r.matrix.user,
            paths(&kept)
        );
    }
    s
}

pub fn resident(t: &Town, r: &Resident) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} (uid {}): {}", r.name, r.uid, r.description);
    let _ = writeln!(s, "  home        {}", t.home(r).display());
    let _ = writeln!(
        s,
        "  matrix      {} (password from {})",
        r.matrix.user,
        r.matrix.password_file.display()
    );
    let _ = writeln!(
        s,
        "  agent       {:?}: {}",
        r.agent.kind,
        r.agent.argv.join(" ")
    );
    let _ = writeln!(s, "  workspace   ~/{}", r.agent.workspace.display());
    let _ = writeln!(
        s,
        "  persists    dirs: {}; files: {}",
        paths(&r.persist.directories),
        paths(&r.persist.files)
    );
    for x in &r.secrets {
        let _ = writeln!(
            s,
            "  secret      {} -> ~/{} ({:o}, {})",
            x.source.display(),
            x.target.display(),
            x.mode,
            x.owner
        );
    }
    for d in &r.devices {
        let _ = writeln!(
            s,
            "  device      {} kernel={} attrs={:?} {:?}",
            d.subsystem,
            d.kernel.as_deref().unwrap_or("*"),
            d.attrs,
            d.permission
        );
    }
    let l = &r.limits;
    let mem = l
        .memory_bytes
        .map_or("-".into(), |b| format!("{} MiB", b >> 20));
    let cpu = l.cpu_percent.map_or("-".into(), |c| format!("{c}%"));
    let _ = writeln!(
        s,
        "  limits      memory {mem}, cpu {cpu}, turn timeout {}",
        humantime::format_duration(l.turn_timeout)
    );
    let _ = writeln!(s, "  git         {} <{}>", r.git.name, r.git.email);
    s
}

pub fn status(st: &StatusReport) -> String {
    let mut s = format!(
        "townhall {} serving town {}, round {} (pid {}, up {})\n",
        st.version,
        st.town,
        st.round,
        st.pid,
        humantime::format_duration(std::time::Duration::from_secs(st.uptime_secs))
    );
    for r in &st.residents {
        let account = if r.account {
            "account ok"
        } else {
            "no account"
        };
        let turns: Vec<_> = st
            .turns
            .iter()
            .filter(|t| t.resident == r.name)
            .map(|t| {
                format!(
                    "turn in {} for {}s ({})",
                    t.conversation, t.running_secs, t.unit
                )
            })
            .collect();
        let doing = if turns.is_empty() {
            "idle".to_string()
        } else {
            turns.join(", ")
        };
        let _ = writeln!(
            s,
            "  {:<12} uid {:<6} round {:<4} {account}, {doing}",
            r.name, r.uid, r.round
        );
        if let Some(c) = &r.chat {
            let _ = writeln!(s, "    chat: {c}");
        }
        if r.spent.turns > 0 {
            let cost = if r.spent.cost_usd > 0.0 {
                format!("{}, ", townhall::turn::dollars(r.spent.cost_usd))
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "    spent this round: {cost}{} in / {} out tokens in {} turn(s)",
                r.spent.input_tokens, r.spent.output_tokens, r.spent.turns
            );
        }
        for u in &r.unenforced {
            let _ = writeln!(s, "    warning: {u}");
        }
        for d in &r.degraded {
            let _ = writeln!(s, "    last reset: {d}");
        }
    }
    if !st.retired.is_empty() {
        let _ = writeln!(
            s,
            "  {} old round(s) still being deleted in the background: {}",
            st.retired.len(),
            st.retired.join(", ")
        );
    }
    if !st.host.is_empty() {
        let names: Vec<_> = st.host.iter().map(|f| f.setting.as_str()).collect();
        let _ = writeln!(
            s,
            "  warning: the host lacks {} (see `townhall check --host`)",
            names.join(", ")
        );
    }
    s
}

pub fn reset_plan(p: &ResetPlan) -> String {
    let mut s = "reset would:\n".to_string();
    for a in &p.create_accounts {
        let _ = writeln!(s, "  create user {} (uid {})", a.name, a.uid);
    }
    let _ = writeln!(
        s,
        "  delete {} and every subvolume inside it",
        p.live.display()
    );
    let _ = writeln!(
        s,
        "  snapshot {} to {}",
        p.blank.display(),
        p.live.display()
    );
    for h in &p.homes {
        let kept: Vec<_> = h.directories.iter().chain(&h.files).cloned().collect();
        let _ = writeln!(
            s,
            "  rebuild {} (uid {}): link {} from {}",
            h.name,
            h.uid,
            paths(&kept),
            h.persist.display()
        );
        for (src, target, _, mode) in &h.secrets {
            let _ = writeln!(
                s,
                "    deploy {} to ~/{} ({mode:o})",
                src.display(),
                target.display()
            );
        }
    }
    s
}

pub fn devices(list: &[townhall::grant::DeviceStatus]) -> String {
    if list.is_empty() {
        return "no present device matches a rule\n".into();
    }
    let mut s = format!("{:<24} {:<8} {}\n", "DEVICE", "SUBSYS", "HOLDERS");
    for d in list {
        let perm = |p: townhall::config::Permission| {
            if p == townhall::config::Permission::Rw {
                "rw"
            } else {
                "r"
            }
        };
        let until = |h: &townhall::grant::Held| {
            h.until
                .as_ref()
                .map(|u| format!(", leased until {u}"))
                .unwrap_or_default()
        };
        let holders: Vec<_> = d
            .holders
            .iter()
            .map(|h| {
                format!(
                    "{} ({}, since {}{})",
                    h.resident,
                    perm(h.perm),
                    h.since,
                    until(h)
                )
            })
            .collect();
        let who = match &d.refused {
            Some(r) => format!("refused: {r}"),
            None => holders.join(", "),
        };
        let _ = writeln!(s, "{:<24} {:<8} {who}", d.devnode.display(), d.subsystem);
    }
    s
}

pub fn host_findings(f: &[townhall::level::Finding]) -> String {
    if f.is_empty() {
        return "the host has every setting a town needs\n".into();
    }
    let mut s = String::new();
    for x in f {
        let _ = writeln!(
            s,
            "{}: {} (missing)\n  why: {}\n  set: {}",
            x.setting, x.found, x.why, x.fix
        );
    }
    let _ = writeln!(s, "{} host setting(s) missing", f.len());
    s
}

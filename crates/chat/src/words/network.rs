//! `!network`: what each resident may reach and what was refused this round.

use townhall_wire::hall::{NetworkReport, RefusedBy};

fn list(items: &[String]) -> String {
    match items {
        [] => "nothing".into(),
        items => items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn one(r: &NetworkReport) -> String {
    if !r.gated {
        return format!(
            "**{}** — no gate is declared, so no egress rules hold: it reaches what the host reaches.",
            r.resident
        );
    }
    let mut out = format!(
        "**{}** — round {}: the gate, and through it {}",
        r.resident,
        r.round,
        list(&r.allowed)
    );
    if !r.opened.is_empty() {
        out.push_str(&format!(
            "\n- opened by a mayor this round: {}",
            list(&r.opened)
        ));
    }
    if r.refused.is_empty() {
        out.push_str("\n- nothing refused this round");
    }
    for f in &r.refused {
        let by = match f.by {
            RefusedBy::Gate => "refused at the gate",
            RefusedBy::Kernel => "dropped by the kernel",
        };
        out.push_str(&format!("\n- `{}` {by}, {}×", f.to, f.times));
    }
    out
}

pub fn network(residents: &[NetworkReport]) -> String {
    if residents.is_empty() {
        return "_No resident to report on._".into();
    }
    residents.iter().map(one).collect::<Vec<_>>().join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use townhall_wire::hall::Refusal;

    #[test]
    fn what_is_allowed_opened_and_refused() {
        let r = NetworkReport {
            resident: "ada".into(),
            round: 4,
            gated: true,
            allowed: vec!["github.com:443".into()],
            opened: vec!["pypi.org:443".into()],
            refused: vec![Refusal {
                to: "203.0.113.2 80/tcp".into(),
                by: RefusedBy::Kernel,
                times: 2,
            }],
        };
        let said = network(&[r]);
        assert!(
            said.contains("**ada** — round 4: the gate, and through it `github.com:443`"),
            "{said}"
        );
        assert!(
            said.contains("opened by a mayor this round: `pypi.org:443`"),
            "{said}"
        );
        assert!(
            said.contains("`203.0.113.2 80/tcp` dropped by the kernel, 2×"),
            "{said}"
        );
    }

    #[test]
    fn without_a_gate_it_says_no_rules_hold() {
        let r = NetworkReport {
            resident: "vox".into(),
            ..NetworkReport::default()
        };
        assert!(network(&[r]).contains("no egress rules hold"));
    }
}

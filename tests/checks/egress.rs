//! Egress in the real town (issue 22, part 4): with a gate declared, root loads the town's
//! nftables table and ada's sockets reach the gate and nothing else: not a host on "the
//! internet" (a namespace of the harness's own), not the homeserver on loopback, not DNS,
//! not over IPv6, not with `curl --noproxy '*'`, not with a raw socket. A user who is not
//! a resident is untouched, and the table goes when the gate does. Her `[network] allow`
//! opens a host through the gate's CONNECT proxy, which resolves names itself and refuses
//! any other host, and any name that leads back to this host.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};

use crate::checks::clis::OnCli;
use crate::checks::gate::{free_port, gate, serving};
use crate::support::internet::{DNS_PORT, HOST, HOST6, Internet, Names};
use crate::support::standin::{Api, StandIn};
use crate::support::town::{Town, repo};

/// Wait until `what` is true of the ruleset `nft list ruleset` prints.
fn rules(t: &Town, what: &str, holds: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = t.sh("nft list ruleset")?;
        if holds(&r) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let log = t.journal(&["-u", "townhall.service", "--no-pager", "-n", "20"]);
            bail!("the rules never {what}:\n{r}\nroot's journal:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until the far host has seen every one of `lines`; return all it saw.
fn arrived(net: &Internet, lines: &[String]) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = net.seen();
        if lines.iter().all(|l| seen.contains(l)) {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            bail!("the far host never saw {lines:?}; it saw {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One attempt per way out, each naming who sent it; each prints what it got, for the
/// failure message.
fn attempts(gate_port: u16) -> String {
    format!(
        "set +e\nwho=$(id -un)\n\
         echo \"v4: $(curl -sS -m 5 http://{HOST}/$who-v4 2>&1)\"\n\
         echo \"v6: $(curl -6 -sS -m 5 'http://[{HOST6}]/$who-v6' 2>&1)\"\n\
         echo \"noproxy: $(HTTPS_PROXY=http://127.0.0.1:{gate_port} HTTP_PROXY=http://127.0.0.1:{gate_port} \
            curl --noproxy '*' -sS -m 5 http://{HOST}/$who-noproxy 2>&1)\"\n\
         echo \"dns: $( (printf $who-dns > /dev/udp/{HOST}/{DNS_PORT}) 2>&1)\"\n\
         echo \"homeserver: $( (exec 3<>/dev/tcp/127.0.0.1/8008 && echo OPEN) 2>&1)\"\n\
         echo \"raw: $(perl -e 'use Socket; socket(my $s, PF_INET, SOCK_RAW, 1) ? print \"OPEN\" : print \"$!\"')\"\n\
         echo \"gate: $( (exec 3<>/dev/tcp/127.0.0.1/{gate_port} && echo OPEN) 2>&1)\"\n"
    )
}

pub fn ada_reaches_the_gate_and_nothing_else(t: &Town) -> anyhow::Result<()> {
    let net = Internet::start()?;
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let gated = gate(t, port, api.port)?;
    t.sh("townhall reload")?;
    serving(t, port)?;
    let ada = t.sh("id -u ada")?.trim().to_string();
    let vox = t.sh("id -u vox")?.trim().to_string();
    rules(t, "named ada and vox", |r| {
        r.contains("table inet townhall") && r.contains(&ada) && r.contains(&vox)
    })?;

    let script = attempts(port);
    t.sh(&format!(
        "cat > /run/egress-tries.sh <<'EOF'\n{script}EOF\nchmod 0644 /run/egress-tries.sh"
    ))?;
    let tried = t.as_user("ada", "bash /run/egress-tries.sh");
    let tried = String::from_utf8_lossy(&tried.stdout).into_owned();
    let vox_tried = t.as_user("vox", "bash /run/egress-tries.sh");
    let vox_tried = String::from_utf8_lossy(&vox_tried.stdout).into_owned();
    // nobody is no resident: the same attempts reach the far host.
    let other = t.as_user(
        "nobody",
        &format!("curl -sS -m 5 http://{HOST}/nobody-v4 2>&1"),
    );
    let other = String::from_utf8_lossy(&other.stdout).into_owned();
    // The barrier: root sends the same ways after them; what ada and vox sent would be there first.
    t.sh(&format!(
        "set +e; curl -sS -m 5 http://{HOST}/root-v4; curl -6 -sS -m 5 'http://[{HOST6}]/root-v6'; \
         bash -c 'printf root-dns > /dev/udp/{HOST}/{DNS_PORT}'; true"
    ))?;
    t.sh("rm -f /run/egress-tries.sh")?;
    let want = [
        "tcp4 GET /nobody-v4 HTTP/1.1",
        "tcp4 GET /root-v4 HTTP/1.1",
        "tcp6 GET /root-v6 HTTP/1.1",
        "udp root-dns",
    ]
    .map(String::from);
    let seen = arrived(&net, &want).map_err(|e| anyhow::anyhow!("{e}\nnobody got: {other}"))?;
    let leaked: Vec<_> = seen
        .iter()
        .filter(|s| s.contains("ada") || s.contains("vox"))
        .collect();
    ensure!(
        leaked.is_empty(),
        "a resident got out: {leaked:?}\nada's tries:\n{tried}\nvox's tries:\n{vox_tried}"
    );
    for out in [&tried, &vox_tried] {
        ensure!(
            out.contains("gate: OPEN"),
            "a resident could not reach the gate:\n{out}"
        );
        for way in ["homeserver: OPEN", "raw: OPEN"] {
            ensure!(!out.contains(way), "a resident got `{way}`:\n{out}");
        }
    }

    // The table goes with the gate, and with it the refusal.
    drop(gated);
    rules(t, "went with the gate", |r| {
        !r.contains("table inet townhall")
    })?;
    let after = t.as_user(
        "ada",
        &format!("curl -sS -m 5 http://{HOST}/ada-after 2>&1"),
    );
    arrived(&net, &["tcp4 GET /ada-after HTTP/1.1".to_string()])
        .map_err(|e| anyhow::anyhow!("{e}\nada got: {}", String::from_utf8_lossy(&after.stdout)))?;
    Ok(())
}

/// ada's call through the gate's proxy (curl's CONNECT, as git, npm, pip and cargo make
/// it): what curl printed, and its error.
fn through_proxy(t: &Town, port: u16, url: &str) -> String {
    let out = t.as_user(
        "ada",
        &format!("curl -sS -m 10 -p -x http://127.0.0.1:{port} {url} 2>&1; true"),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ada_reaches_her_allowed_host_through_the_gate_and_no_other(t: &Town) -> anyhow::Result<()> {
    let net = Internet::start()?;
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate(t, port, api.port)?;
    let _hosts = Names::add(
        t,
        &format!("{HOST} allowed.test forbidden.test\n127.0.0.1 sneaky.test"),
    )?;
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?;
    let toml = format!("{toml}\n[network]\nallow = [\"allowed.test:80\", \"sneaky.test:8008\"]\n");
    let env_file = "/run/secrets/townhall/ada-anthropic.env";
    let _on = OnCli::set(t, "ada", &toml, env_file, "", String::from("/nonexistent"))?;
    serving(t, port)?;

    let allowed = through_proxy(t, port, "http://allowed.test/ada-allowed");
    arrived(&net, &["tcp4 GET /ada-allowed HTTP/1.1".to_string()])
        .map_err(|e| anyhow::anyhow!("{e}\nada's curl said: {allowed}"))?;

    let forbidden = through_proxy(t, port, "http://forbidden.test/ada-forbidden");
    ensure!(
        forbidden.contains("403"),
        "a host ada may not reach was not refused: {forbidden}"
    );
    let log = t.journal(&["-u", "townhall-gate.service", "--no-pager", "-n", "20"]);
    ensure!(
        log.contains("refused: not allowed"),
        "the gate does not say why it refused forbidden.test:\n{log}"
    );
    // A name that resolves to loopback is no way around: the homeserver stays closed.
    let sneaky = through_proxy(t, port, "http://sneaky.test:8008/_matrix/client/versions");
    ensure!(
        sneaky.contains("403") && !sneaky.contains("versions"),
        "a name for loopback led ada to the homeserver: {sneaky}"
    );
    // The barrier: root's request after hers arrives, and nothing of forbidden.test's before.
    t.sh(&format!("curl -sS -m 5 http://{HOST}/root-after; true"))?;
    let seen = arrived(&net, &["tcp4 GET /root-after HTTP/1.1".to_string()])?;
    ensure!(
        !seen.iter().any(|s| s.contains("ada-forbidden")),
        "ada reached forbidden.test: {seen:?}"
    );
    Ok(())
}

/// After a reset in a town with a gate, ada's login shell has the gate's proxy (from the
/// ~/.profile the reset writes), and her tools go out through it without being told.
pub fn a_login_shell_goes_out_through_the_gate(t: &Town) -> anyhow::Result<()> {
    let net = Internet::start()?;
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate(t, port, api.port)?;
    let _hosts = Names::add(t, &format!("{HOST} allowed.test"))?;
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?;
    let toml = format!("{toml}\n[network]\nallow = [\"allowed.test:80\"]\n");
    let env_file = "/run/secrets/townhall/ada-anthropic.env";
    let _on = OnCli::set(t, "ada", &toml, env_file, "", String::from("/nonexistent"))?;
    serving(t, port)?;
    t.sh("townhall reset --yes --by egress >/dev/null 2>&1")?;
    let shell = t.as_user(
        "ada",
        "cd && bash -lc 'echo \"proxy=$HTTPS_PROXY\"; curl -sS -m 10 -p http://allowed.test/ada-login 2>&1; true'",
    );
    let shell = String::from_utf8_lossy(&shell.stdout).into_owned();
    ensure!(
        shell.contains(&format!("proxy=http://127.0.0.1:{port}")),
        "ada's login shell has no proxy: {shell}"
    );
    arrived(&net, &["tcp4 GET /ada-login HTTP/1.1".to_string()])
        .map_err(|e| anyhow::anyhow!("{e}\nada's shell said: {shell}"))?;
    Ok(())
}

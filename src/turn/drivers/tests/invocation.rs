//! How each CLI kind is invoked: for a turn, with its defaults, and at a terminal.

use super::*;

fn agent(kind: AgentKind, argv: &[&str]) -> Agent {
    Agent {
        kind,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        workspace: "work".into(),
        environment: Default::default(),
        environment_files: vec![],
        defaults: true,
        base_url: None,
        api: None,
        proxy: None,
        approve: vec![],
        approve_timeout: crate::config::DEFAULT_APPROVE_TIMEOUT,
        models: vec![],
    }
}

fn argv(a: &Agent, session: Option<&str>) -> Vec<String> {
    invocation(
        a,
        "p",
        session,
        std::path::Path::new("/agents/ada"),
        &Default::default(),
    )
    .argv
}

#[test]
fn invocations_resume_sessions_and_keep_prompts_off_the_command_line() {
    let c = invocation(
        &agent(
            AgentKind::Claude,
            &["claude", "--dangerously-skip-permissions"],
        ),
        "fix it",
        Some("5b9a"),
        std::path::Path::new("/h"),
        &Default::default(),
    );
    assert_eq!(
        c.argv,
        [
            "claude",
            "--dangerously-skip-permissions",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--resume",
            "5b9a"
        ]
    );
    assert_eq!(c.stdin, "fix it");
    let x = argv(&agent(AgentKind::Codex, &["codex"]), Some("t1"));
    assert_eq!(
        x,
        [
            "codex",
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "resume",
            "t1",
            "-"
        ]
    );
    let g = argv(&agent(AgentKind::Gemini, &["gemini"]), None);
    assert_eq!(g, ["gemini", "--output-format", "stream-json", "--yolo"]);
    let cmd = argv(
        &agent(AgentKind::Command, &["/bin/standin", "-v"]),
        Some("ignored"),
    );
    assert_eq!(cmd, ["/bin/standin", "-v"]);
}

#[test]
fn kind_defaults_yield_to_the_argv_and_can_be_turned_off() {
    // The resident is the sandbox: each CLI's own is off, unless the argv picks a mode.
    assert_eq!(
        argv(&agent(AgentKind::Claude, &["claude"]), None)[1],
        "--dangerously-skip-permissions"
    );
    assert!(
        !argv(
            &agent(AgentKind::Claude, &["claude", "--permission-mode", "plan"]),
            None
        )
        .contains(&"--dangerously-skip-permissions".to_string())
    );
    let x = argv(
        &agent(AgentKind::Codex, &["codex", "-s", "workspace-write"]),
        None,
    );
    assert!(!x.iter().any(|a| a.starts_with("--dangerously")), "{x:?}");
    assert!(
        !argv(
            &agent(AgentKind::Gemini, &["gemini", "--approval-mode=auto_edit"]),
            None
        )
        .contains(&"--yolo".to_string())
    );
    // gemini: trusted workspace, its settings, and the home's git config through its shell.
    let g = invocation(
        &agent(AgentKind::Gemini, &["gemini"]),
        "p",
        None,
        std::path::Path::new("/agents/vox"),
        &Default::default(),
    );
    let env: std::collections::BTreeMap<_, _> = g.environment.into_iter().collect();
    assert_eq!(env["GEMINI_CLI_TRUST_WORKSPACE"], "true");
    assert_eq!(
        env["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"],
        "/srv/townhall/gemini-defaults.json"
    );
    assert_eq!(
        (
            env["GIT_CONFIG_KEY_0"].as_str(),
            env["GIT_CONFIG_VALUE_0"].as_str()
        ),
        ("include.path", "/agents/vox/.gitconfig")
    );
    let off = Agent {
        defaults: false,
        ..agent(AgentKind::Gemini, &["gemini"])
    };
    let g = invocation(
        &off,
        "p",
        None,
        std::path::Path::new("/h"),
        &Default::default(),
    );
    assert_eq!(
        (g.argv, g.environment),
        (
            vec![
                "gemini".to_string(),
                "--output-format".into(),
                "stream-json".into()
            ],
            vec![]
        )
    );
    // A base URL: codex gets a provider of its own, the others their variable.
    let url = |kind, argv: &[&str]| Agent {
        base_url: Some("http://127.0.0.1:9/v1".into()),
        ..agent(kind, argv)
    };
    let x = argv(&url(AgentKind::Codex, &["codex"]), None);
    assert!(
        x.contains(&"model_providers.townhall.base_url=\"http://127.0.0.1:9/v1\"".to_string())
            && x.iter().position(|a| a == "exec") > x.iter().position(|a| a == "-c"),
        "{x:?}"
    );
    let c = invocation(
        &url(AgentKind::Claude, &["claude"]),
        "p",
        None,
        std::path::Path::new("/h"),
        &Default::default(),
    );
    assert_eq!(
        c.environment,
        [(
            "ANTHROPIC_BASE_URL".to_string(),
            "http://127.0.0.1:9/v1".to_string()
        )]
    );
}

#[test]
fn at_a_terminal_each_kind_resumes_its_session_interactively() {
    let home = std::path::Path::new("/agents/ada");
    let at = |kind, argv: &[&str]| interactive(&agent(kind, argv), Some("s1"), home).argv;
    assert_eq!(
        at(AgentKind::Claude, &["claude"]),
        ["claude", "--dangerously-skip-permissions", "--resume", "s1"]
    );
    assert_eq!(
        at(AgentKind::Codex, &["codex"]),
        [
            "codex",
            "resume",
            "s1",
            "--dangerously-bypass-approvals-and-sandbox"
        ]
    );
    assert_eq!(
        at(AgentKind::Gemini, &["gemini"]),
        ["gemini", "--yolo", "--resume", "s1"]
    );
    let fresh = interactive(&agent(AgentKind::Gemini, &["gemini"]), None, home);
    assert_eq!(fresh.argv, ["gemini", "--yolo"]);
    assert!(
        fresh
            .environment
            .iter()
            .any(|(k, _)| k == "GEMINI_CLI_TRUST_WORKSPACE"),
        "the same defaults as a turn"
    );
}

#[test]
fn through_the_gate_a_cli_gets_the_gates_url_and_a_placeholder_for_its_key() {
    use crate::config::{AgentApi, KeyScheme};
    let gate = "http://127.0.0.1:8447";
    let table = [
        (AgentKind::Claude, KeyScheme::XApiKey, "ANTHROPIC_API_KEY"),
        (AgentKind::Claude, KeyScheme::Bearer, "ANTHROPIC_AUTH_TOKEN"),
        (AgentKind::Codex, KeyScheme::Bearer, "CODEX_API_KEY"),
        (AgentKind::Gemini, KeyScheme::GoogApiKey, "GEMINI_API_KEY"),
    ];
    for (kind, key, var) in table {
        let mut a = agent(kind, &["cli"]);
        a.base_url = Some(gate.into());
        a.api = Some(AgentApi {
            name: "model".into(),
            key,
        });
        let i = invocation(
            &a,
            "p",
            None,
            std::path::Path::new("/agents/ada"),
            &Default::default(),
        );
        let env: std::collections::BTreeMap<_, _> = i.environment.iter().cloned().collect();
        assert_eq!(
            env.get(var).map(String::as_str),
            Some(super::super::invoke::PLACEHOLDER),
            "{kind:?} {key:?}: {env:?}"
        );
        let url_given = env.values().any(|v| v == gate) || i.argv.iter().any(|a| a.contains(gate));
        assert!(url_given, "{kind:?}: the gate's URL is not given: {i:?}");
    }
}

#[test]
fn with_a_gate_tools_are_pointed_at_its_proxy_and_the_gate_itself_is_reached_directly() {
    let mut a = agent(AgentKind::Claude, &["claude"]);
    a.proxy = Some("http://127.0.0.1:8447".into());
    let env = invocation(
        &a,
        "p",
        None,
        std::path::Path::new("/agents/ada"),
        &Default::default(),
    )
    .environment;
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        assert_eq!(get(var), Some("http://127.0.0.1:8447"), "{var}");
    }
    assert_eq!(get("NO_PROXY"), Some("127.0.0.1,localhost,::1"));
    let none = invocation(
        &agent(AgentKind::Claude, &["claude"]),
        "p",
        None,
        std::path::Path::new("/agents/ada"),
        &Default::default(),
    )
    .environment;
    assert!(!none.iter().any(|(n, _)| n.ends_with("_PROXY")), "{none:?}");
}

#[test]
fn a_conversations_mode_reaches_each_kinds_argv_in_place_of_the_defaults() {
    let plan = townhall_wire::hall::Mode {
        model: Some("opus".into()),
        effort: None,
        plan: true,
    };
    let at = std::path::Path::new("/agents/ada");
    let claude = invocation(
        &agent(AgentKind::Claude, &["claude"]),
        "p",
        Some("s1"),
        at,
        &plan,
    )
    .argv;
    assert_eq!(
        claude.join(" "),
        "claude -p --output-format stream-json --verbose --model opus --permission-mode plan --resume s1"
    );
    let codex = invocation(&agent(AgentKind::Codex, &["codex"]), "p", None, at, &plan).argv;
    assert!(
        codex
            .join(" ")
            .ends_with("exec --json --skip-git-repo-check -m opus -s read-only -"),
        "{codex:?}"
    );
    let gemini = invocation(&agent(AgentKind::Gemini, &["gemini"]), "p", None, at, &plan).argv;
    assert!(!gemini.contains(&"--yolo".to_string()), "{gemini:?}");
    assert!(
        gemini.join(" ").ends_with("-m opus --approval-mode plan"),
        "{gemini:?}"
    );
}

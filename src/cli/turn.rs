//! `townhall turn NAME PROMPT…` and `townhall turn stop NAME`, through the daemon.

use std::io::Write;
use std::process::ExitCode;

use townhall::control::{Request, Response};
use townhall::turn::{Outcome, TurnEvent};

use super::shown::shown;

fn describe(o: &Outcome) -> String {
    let secs = o.duration_ms as f64 / 1000.0;
    let mut s = match (o.stopped, o.timed_out, o.result.as_str()) {
        (true, _, _) => format!("turn stopped after {secs:.1} s"),
        (_, true, _) => format!("turn timed out after {secs:.1} s and was stopped"),
        (_, _, "success") => format!("turn done in {secs:.1} s"),
        (_, _, "signal") => format!(
            "turn failed: killed by signal {} after {secs:.1} s",
            o.status
        ),
        (_, _, r) => format!(
            "turn failed ({r}): exit status {} after {secs:.1} s",
            o.status
        ),
    };
    if !o.stderr_tail.is_empty() && o.result != "success" {
        s.push_str("\nstderr (last lines):\n  ");
        s.push_str(&shown(&o.stderr_tail.join("\n  ")));
    }
    s
}

pub fn run(
    args: &[String],
    conversation: &str,
    fresh: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let req = match args {
        [stop, name] if stop == "stop" => Request::Stop {
            resident: name.clone(),
        },
        [name, prompt @ ..] if !prompt.is_empty() => Request::Turn {
            resident: name.clone(),
            conversation: conversation.into(),
            prompt: prompt.join(" "),
            fresh,
        },
        _ => anyhow::bail!("usage: townhall turn NAME PROMPT…  |  townhall turn stop NAME"),
    };
    // Only an answer that says so is a success: a daemon that dies mid-turn is a failure.
    let mut ok = false;
    let (mut printed_text, mut mid_line) = (false, false);
    let code = super::ask(&req, |r| {
        if json {
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        }
        let mut out = std::io::stdout();
        // A note on stderr starts on a line of its own, not after half a line of answer.
        if std::mem::take(&mut mid_line)
            && !matches!(r, Response::Event(TurnEvent::Text { .. }))
            && !json
        {
            println!();
        }
        match r {
            Response::Event(ev) if !json => match ev {
                TurnEvent::Text { text } => {
                    printed_text = true;
                    mid_line = !text.ends_with('\n');
                    let _ = write!(out, "{}", shown(&text));
                    let _ = out.flush();
                }
                TurnEvent::Final { text } if !printed_text => println!("{}", shown(&text)),
                TurnEvent::Final { .. } => {}
                TurnEvent::Tool { summary } => eprintln!("[{}]", shown(&summary)),
                TurnEvent::Session { id } => eprintln!("[session {}]", shown(&id)),
                TurnEvent::Usage {
                    input_tokens,
                    output_tokens,
                    cost_usd,
                } => {
                    let cost = cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default();
                    eprintln!("[{input_tokens} tokens in, {output_tokens} out{cost}]");
                }
                TurnEvent::Error { message } => eprintln!("error: {}", shown(&message)),
                TurnEvent::Notice { text } => eprintln!("note: {}", shown(&text)),
                TurnEvent::Queued { ahead } => {
                    eprintln!("[queued: {ahead} turn(s) ahead in this conversation]")
                }
            },
            Response::TurnDone(o) => {
                ok = o.result == "success" && !o.stopped;
                if !json {
                    eprintln!("{}", describe(&o));
                }
            }
            Response::Stopped { turns } => {
                ok = true;
                if !json {
                    println!("stopped {turns} running turn(s)");
                }
            }
            _ => {}
        }
    })?;
    // The daemon answered; a turn that did not succeed is a failure of this command.
    Ok(if code == ExitCode::SUCCESS && !ok {
        ExitCode::FAILURE
    } else {
        code
    })
}

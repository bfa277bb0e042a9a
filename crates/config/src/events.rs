//! A resident's `[[on]]`s: turns that come when something happens in the town, a push to
//! the town remote by another resident (`push = "ada/*"`) or a granted device appearing
//! (`device = "ttyUSB*"`). Whether the pusher may ask is the pairwise `allow`, judged when
//! the push comes.

use std::collections::HashSet;

use serde::Serialize;

use super::raw::RawOn;
use super::schedule::prompt;
use super::validate::Checker;
use super::values as v;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnEvent {
    pub when: Happening,
    /// The prompt, with `{pusher}`, `{branch}`, `{commits}`, `{fetch}` or `{device}`
    /// filled in.
    pub prompt: String,
    pub room: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Happening {
    /// `resident`'s push to a branch matching `branches` (a glob, `resident/` included).
    Push { resident: String, branches: String },
    /// A device this resident is granted, whose kernel name matches `kernel` (a glob).
    Device { kernel: String },
}

impl OnEvent {
    /// True when a push by `pusher` to `branch` is one this waits for.
    pub fn on_push(&self, pusher: &str, branch: &str) -> bool {
        matches!(&self.when, Happening::Push { resident, branches }
            if resident == pusher && glob_match(branches, branch))
    }

    /// The prompt with each `{word}` of `words` filled in, in one pass: a value (a branch
    /// the pusher named) is never read for words itself.
    pub fn prompt_with(&self, words: &[(&str, &str)]) -> String {
        let mut out = String::new();
        let mut rest = self.prompt.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let filled = after.split_once('}').and_then(|(word, tail)| {
                let (_, value) = words.iter().find(|(w, _)| *w == word)?;
                Some((value, tail))
            });
            match filled {
                Some((value, tail)) => {
                    out.push_str(value);
                    rest = tail;
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// True when the appearing device `kernel` is one this waits for.
    pub fn on_device(&self, kernel: &str) -> bool {
        matches!(&self.when, Happening::Device { kernel: k } if glob_match(k, kernel))
    }
}

fn glob_match(pattern: &str, s: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(s))
}

/// The words a prompt may fill in, per kind of happening.
const PUSH_WORDS: [&str; 4] = ["pusher", "branch", "commits", "fetch"];
const DEVICE_WORDS: [&str; 1] = ["device"];

/// Every `{word}` of `template` is one of `known`.
fn words(template: &str, known: &[&str]) -> Result<(), String> {
    for part in template.split('{').skip(1) {
        let Some((word, _)) = part.split_once('}') else {
            continue;
        };
        if !known.contains(&word) {
            return Err(format!(
                "`{{{word}}}` is not filled in here (this prompt may use {})",
                known
                    .iter()
                    .map(|k| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// A push pattern: `RESIDENT/GLOB`, the pusher another declared resident.
fn push_pattern(s: &str, me: &str, residents: &HashSet<String>) -> Result<String, String> {
    let (who, rest) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` names no resident's branches"))?;
    if !residents.contains(who) {
        let mut known: Vec<_> = residents.iter().map(String::as_str).collect();
        known.sort();
        return Err(format!(
            "no resident named `{who}` (residents: {})",
            known.join(", ")
        ));
    }
    if who == me {
        return Err(format!(
            "`{s}` is {me}'s own pushes: each would start another turn of its own"
        ));
    }
    if rest.is_empty() || glob::Pattern::new(s).is_err() {
        return Err(format!("`{s}` is not a branch pattern"));
    }
    Ok(who.to_string())
}

pub(super) fn events(
    c: &mut Checker,
    me: &str,
    residents: &HashSet<String>,
    raw: &[RawOn],
) -> Vec<OnEvent> {
    let mut out = Vec::new();
    for e in raw {
        let when = match (&e.push, &e.device) {
            (Some(p), None) => c
                .ok(
                    p,
                    push_pattern(p.get_ref(), me, residents),
                    "write another resident's name and a branch pattern, e.g. \"ada/*\"",
                )
                .map(|resident| Happening::Push {
                    resident,
                    branches: p.get_ref().clone(),
                }),
            (None, Some(d)) => {
                let ok = !d.get_ref().is_empty()
                    && d.get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "*?_-.".contains(c))
                    && glob::Pattern::new(d.get_ref()).is_ok();
                let check = match ok {
                    true => Ok(()),
                    false => Err(format!("`{}` is not a device name pattern", d.get_ref())),
                };
                c.ok(
                    d,
                    check,
                    "write a kernel device name or pattern, e.g. \"ttyUSB*\"",
                )
                .map(|()| Happening::Device {
                    kernel: d.get_ref().clone(),
                })
            }
            _ => {
                c.err(
                    &e.prompt,
                    "this [[on]] must say what it waits for: one of `push` or `device`",
                    "add push = \"RESIDENT/BRANCHES\" or device = \"KERNEL-NAME\"",
                );
                None
            }
        };
        let known: &[&str] = match when {
            Some(Happening::Device { .. }) => &DEVICE_WORDS,
            _ => &PUSH_WORDS,
        };
        let text = e.prompt.get_ref();
        let prompt = c
            .ok(
                &e.prompt,
                prompt(text),
                "write what the resident is to do each time",
            )
            .and_then(|()| {
                c.ok(
                    &e.prompt,
                    words(text, known),
                    "use only the words this kind of [[on]] fills in",
                )
            });
        let room = c.ok(
            &e.room,
            v::room_id(e.room.get_ref()),
            "write the room's ID (!id:server; Element shows it under Settings › Advanced)",
        );
        if let (Some(when), Some(()), Some(())) = (when, prompt, room) {
            out.push(OnEvent {
                when,
                prompt: text.clone(),
                room: e.room.get_ref().clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_matches_its_resident_and_branches_and_fills_the_prompt() {
        let e = OnEvent {
            when: Happening::Push {
                resident: "ada".into(),
                branches: "ada/*".into(),
            },
            prompt: "review {branch} by {pusher}: {fetch}".into(),
            room: "!r:t".into(),
        };
        assert!(e.on_push("ada", "ada/feature") && !e.on_push("vox", "ada/feature"));
        assert!(!e.on_push("ada", "main") && !e.on_device("ttyUSB0"));
        // A value that looks like a word is not filled in again.
        let p = e.prompt_with(&[
            ("branch", "ada/{pusher}"),
            ("pusher", "ada"),
            ("fetch", "git fetch x"),
        ]);
        assert_eq!(p, "review ada/{pusher} by ada: git fetch x");
    }
}

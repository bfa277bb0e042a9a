//! A worktree's name, from the first words of its conversation's first prompt: what the
//! mayor reads in a branch name and a path, so only lowercase letters, digits and dashes.

/// At most this many words, and this many characters, of the prompt.
const WORDS: usize = 5;
const CHARS: usize = 32;
/// How many `base-N` names are tried before giving up.
pub const TRIES: u32 = 20;

/// The worktree's name for a conversation that starts with `prompt`.
pub fn slug(prompt: &str) -> String {
    let words = prompt
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(WORDS)
        .map(str::to_ascii_lowercase);
    let mut out = String::new();
    for w in words {
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + w.len() > CHARS {
            break;
        }
        if sep == 1 {
            out.push('-');
        }
        out.push_str(&w);
    }
    if out.is_empty() {
        out.push_str("chat");
    }
    out
}

/// Whether `name` is `base` or `base-N` (2 ≤ N ≤ TRIES): the only names a helper may
/// answer with for `base`.
pub fn taken(base: &str, name: &str) -> bool {
    if name == base {
        return true;
    }
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (2..=TRIES).contains(&n) && name == format!("{base}-{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_first_words_in_plain_letters() {
        assert_eq!(slug("Fix the parser, please!"), "fix-the-parser-please");
        assert_eq!(slug("  ../../etc/passwd; rm -rf /"), "etc-passwd-rm-rf");
        assert_eq!(slug("éé 🙂"), "chat");
        assert_eq!(
            slug("averyveryverylongwordthatgoesonandon more"),
            "chat",
            "a first word too long for a name"
        );
        assert!(slug(&"abc ".repeat(100)).len() <= CHARS);
    }

    #[test]
    fn only_the_base_or_a_numbered_base_is_accepted_back() {
        assert!(taken("fix", "fix") && taken("fix", "fix-2") && taken("fix", "fix-20"));
        for bad in [
            "fix-1", "fix-21", "fix-02", "fix-x", "fixes", "../fix", "fix-2/..",
        ] {
            assert!(!taken("fix", bad), "{bad}");
        }
    }
}

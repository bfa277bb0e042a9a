//! An approval rule as the config writes it: `Bash(git push*)` is a tool and a glob its
//! subject must match; `Write` alone is any call of that tool. Matching calls against rules
//! is the daemon's (`approve`); what a rule may say is the config's.

use serde::Serialize;

/// `Bash(git push*)`: a tool, and a glob its subject must match (any subject when absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub tool: String,
    pub pattern: Option<String>,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pattern {
            Some(p) => write!(f, "{}({p})", self.tool),
            None => write!(f, "{}", self.tool),
        }
    }
}

const HELP: &str =
    "write a tool and optionally a glob of its subject, e.g. \"Bash(git push*)\" or \"Write\"";

/// Why a rule's text is not a rule; each says how to write one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("`{0}` has no closing `)`; {HELP}")]
    Unclosed(String),
    #[error("`{0}` is not a valid glob: {1}; {HELP}")]
    Glob(String, String),
    #[error("`{0}` is not a tool name; {HELP}")]
    Tool(String),
}

pub fn parse(text: &str) -> Result<Rule, RuleError> {
    let (tool, pattern) = match text.split_once('(') {
        Some((tool, rest)) => {
            let p = rest
                .strip_suffix(')')
                .ok_or_else(|| RuleError::Unclosed(text.into()))?;
            glob::Pattern::new(p).map_err(|e| RuleError::Glob(p.into(), e.msg.into()))?;
            (tool, Some(p.to_string()))
        }
        None => (text, None),
    };
    if tool.is_empty() || !tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(RuleError::Tool(tool.into()));
    }
    Ok(Rule {
        tool: tool.into(),
        pattern,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_a_tool_and_an_optional_glob_and_bad_ones_say_how() {
        assert_eq!(
            parse("Bash(git push*)").unwrap(),
            Rule {
                tool: "Bash".into(),
                pattern: Some("git push*".into())
            }
        );
        assert_eq!(parse("Write").unwrap().to_string(), "Write");
        assert!(matches!(
            parse("Bash(git push*"),
            Err(RuleError::Unclosed(_))
        ));
        assert!(
            parse("Bash(git push*")
                .unwrap_err()
                .to_string()
                .contains("closing")
        );
        assert!(matches!(parse("Ba sh"), Err(RuleError::Tool(_))));
        assert!(matches!(parse("Bash([)"), Err(RuleError::Glob(..))));
    }
}

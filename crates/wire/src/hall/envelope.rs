//! One request line: the protocol version beside the request, and reading it back, where
//! a version the daemon does not speak is its own error (the chat was not restarted with
//! the daemon it talks to).

use serde::{Deserialize, Serialize};

use super::{Ask, VERSION};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub ask: Ask,
}

/// Why a request line was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BadEnvelope {
    #[error("no protocol version: {0}")]
    NoVersion(serde_json::Error),
    #[error(
        "protocol version {0}, this daemon speaks {VERSION}: restart townhall-chat with the same townhall"
    )]
    Version(u32),
    #[error("{0}")]
    Ask(serde_json::Error),
}

impl Envelope {
    pub fn new(ask: Ask) -> Self {
        Self { v: VERSION, ask }
    }

    /// A request line of this version, with a request it knows.
    pub fn parse(line: &str) -> Result<Self, BadEnvelope> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let v = serde_json::from_str::<Version>(line)
            .map_err(BadEnvelope::NoVersion)?
            .v;
        if v != VERSION {
            return Err(BadEnvelope::Version(v));
        }
        serde_json::from_str(line).map_err(BadEnvelope::Ask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_another_version_or_shape_are_refused_with_why() {
        let parse = Envelope::parse;
        let said = |line: &str| parse(line).unwrap_err().to_string();
        let (v, old) = (VERSION, VERSION - 1);
        let status = |v: u32| format!(r#"{{"v":{v},"request":"status","resident":"ada"}}"#);
        assert!(parse(&status(v)).is_ok());
        assert!(said(&status(old)).contains(&format!("version {old}")));
        assert!(said(r#"{"request":"status","resident":"ada"}"#).contains("no protocol version"));
        let turn = format!(r#"{{"v":{v},"request":"turn","resident":"ada"}}"#);
        assert!(parse(&turn).is_err());
        assert!(parse("not json").is_err());
    }
}

//! A model API as the gate reaches it, and the swap: what a resident's CLI sent for a key
//! (a placeholder) never leaves the gate; the real key goes out in the header the API
//! reads, and only towards that API's upstream.

use hyper::HeaderMap;
use hyper::header::{self, HeaderName, HeaderValue};

/// How an API takes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `x-api-key: KEY` (Anthropic).
    XApiKey,
    /// `Authorization: Bearer KEY` (OpenAI, and Anthropic's auth tokens).
    Bearer,
    /// `x-goog-api-key: KEY` (Gemini).
    GoogApiKey,
}

/// A model API: its upstream base URL (a request's path is appended to it), how it takes
/// its key, and the key.
#[derive(Clone)]
pub struct Api {
    pub name: String,
    pub upstream: String,
    pub scheme: Scheme,
    pub key: String,
}

impl std::fmt::Debug for Api {
    /// Never the key: an `Api` may end up in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("name", &self.name)
            .field("upstream", &self.upstream)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// Where a CLI may have put its placeholder: all of them are dropped.
const KEYS: [HeaderName; 3] = [header::AUTHORIZATION, X_API_KEY, X_GOOG_API_KEY];

/// Headers that belong to one connection, not to the request (RFC 9110 7.6.1), and the
/// host, which is the upstream's.
const HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
];

/// Why the key cannot go in a header.
#[derive(Debug, thiserror::Error)]
#[error("the key of API `{0}` is not a valid header value (a stray newline in its file?)")]
pub struct BadKey(pub String);

impl Api {
    /// The headers to send upstream for `incoming`: the same, less the connection's own
    /// and every key the caller sent, plus the real key in this API's header.
    pub fn outgoing(&self, incoming: &HeaderMap) -> Result<HeaderMap, BadKey> {
        let mut out = incoming.clone();
        for name in KEYS.iter().chain(&HOP) {
            out.remove(name);
        }
        let bad = || BadKey(self.name.clone());
        let (name, value) = match self.scheme {
            Scheme::XApiKey => (X_API_KEY, self.key.clone()),
            Scheme::Bearer => (header::AUTHORIZATION, format!("Bearer {}", self.key)),
            Scheme::GoogApiKey => (X_GOOG_API_KEY, self.key.clone()),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| bad())?;
        value.set_sensitive(true);
        out.insert(name, value);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(scheme: Scheme) -> Api {
        Api {
            name: "anthropic".into(),
            upstream: "https://api.example".into(),
            scheme,
            key: "real-key".into(),
        }
    }

    #[test]
    fn every_placeholder_goes_and_the_real_key_comes_in_the_apis_header() {
        let mut incoming = HeaderMap::new();
        for (k, v) in [
            ("x-api-key", "placeholder"),
            ("authorization", "Bearer placeholder"),
            ("x-goog-api-key", "placeholder"),
            ("host", "127.0.0.1:8447"),
            ("connection", "keep-alive"),
            ("anthropic-version", "2023-06-01"),
        ] {
            incoming.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let table = [
            (Scheme::XApiKey, "x-api-key", "real-key"),
            (Scheme::Bearer, "authorization", "Bearer real-key"),
            (Scheme::GoogApiKey, "x-goog-api-key", "real-key"),
        ];
        for (scheme, header, want) in table {
            let out = api(scheme).outgoing(&incoming).unwrap();
            let sent: Vec<String> = out
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                .collect();
            assert_eq!(
                sent,
                [
                    "anthropic-version: 2023-06-01".to_string(),
                    format!("{header}: {want}")
                ],
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn a_key_that_is_no_header_is_an_error_and_never_printed() {
        let mut bad = api(Scheme::XApiKey);
        bad.key = "real\nkey".into();
        let e = bad.outgoing(&HeaderMap::new()).unwrap_err().to_string();
        assert!(e.contains("`anthropic`") && !e.contains("real"), "{e}");
        assert!(!format!("{bad:?}").contains("real"));
    }
}

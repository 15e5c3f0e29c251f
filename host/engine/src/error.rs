//! The library's error type: opaque, with queries (in the manner of hyper's `Error`), so the
//! internals can change without breaking users.

use std::borrow::Cow;
use std::fmt;

use crate::event::{Phase, TraceError};

/// An error from the httptrace library.
#[derive(Debug, Clone)]
pub struct Error {
    kind: Kind,
    message: String,
}

#[derive(Debug, Clone)]
enum Kind {
    BadUrl,
    UnsupportedScheme,
    Config,
    Request(TraceError),
}

impl Error {
    pub(crate) fn bad_url(message: String) -> Error {
        Error { kind: Kind::BadUrl, message }
    }

    pub(crate) fn unsupported_scheme(message: String) -> Error {
        Error { kind: Kind::UnsupportedScheme, message }
    }

    pub(crate) fn config(message: String) -> Error {
        Error { kind: Kind::Config, message }
    }

    /// An error for a request that failed with `e`.
    pub fn request(e: TraceError) -> Error {
        Error { message: e.message.clone(), kind: Kind::Request(e) }
    }

    /// The URL could not be parsed or has no host.
    pub fn is_bad_url(&self) -> bool {
        matches!(self.kind, Kind::BadUrl)
    }

    /// The URL's scheme is not http or https.
    pub fn is_unsupported_scheme(&self) -> bool {
        matches!(self.kind, Kind::UnsupportedScheme)
    }

    /// Bad client configuration (resolver, TLS roots, CA file).
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config)
    }

    /// A time limit ran out.
    pub fn is_timeout(&self) -> bool {
        self.phase() == Some(Phase::Timeout)
    }

    /// The phase a request failed in, for request errors.
    pub fn phase(&self) -> Option<Phase> {
        self.trace_error().map(|e| e.phase)
    }

    /// The typed failure as carried by `request-done`, for request errors.
    pub fn trace_error(&self) -> Option<&TraceError> {
        match &self.kind {
            Kind::Request(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `s` with its control characters (newlines, carriage returns, terminal escapes, …) written as
/// escapes (`\n`, `\u{1b}`), for messages that quote input, servers or plugins: each stays one
/// line on stderr, and none can forge a line of its own or steer the terminal.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.contains(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_control_escapes_control_characters_only() {
        assert_eq!(super::escape_control("plain 'text' é"), "plain 'text' é");
        assert_eq!(super::escape_control("a\nhttptrace: fake\r\u{1b}[2J"), "a\\nhttptrace: fake\\r\\u{1b}[2J");
    }
}

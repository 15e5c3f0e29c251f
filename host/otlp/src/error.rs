//! The exporter's typed error.

use std::fmt;

/// Why export could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Error {
    kind: ErrorKind,
    /// The flag, variable or file concerned.
    name: String,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Config,
    Tls,
    Start,
}

impl Error {
    pub(crate) fn config(name: &str, message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Config, name: name.into(), message: message.into() }
    }

    pub(crate) fn tls(name: &str, message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Tls, name: name.into(), message: message.into() }
    }

    pub(crate) fn start(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Start, name: "exporter".into(), message: message.into() }
    }

    /// A flag or environment variable has a bad value.
    pub fn is_config(&self) -> bool {
        self.kind == ErrorKind::Config
    }

    /// The CA file for the collector could not be read or used.
    pub fn is_tls(&self) -> bool {
        self.kind == ErrorKind::Tls
    }

    /// The export thread could not be started.
    pub fn is_start(&self) -> bool {
        self.kind == ErrorKind::Start
    }

    /// The flag, variable or file the error is about.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for Error {}

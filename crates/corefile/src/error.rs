//! Parse errors that read as CoreDNS's: file and line first, then CoreDNS's wording.

use std::fmt;
use std::sync::Arc;

/// Which of CoreDNS's two error prefixes the message takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `FILE:LINE - Error during parsing: MSG`
    Parsing,
    /// `FILE:LINE - Syntax error: MSG`
    Syntax,
}

/// An error located at a token of a Corefile.
///
/// `Display` gives CoreDNS's text (`Corefile:3 - Error during parsing: Unknown directive 'proxy'`)
/// followed by what CoreDNS does not say: the column, and a hint where one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub file: Arc<str>,
    pub line: usize,
    /// 1-based column of the token, 0 when there is no token (end of file).
    pub column: usize,
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl Error {
    /// The message alone, without location (handy in tests and logs).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Adds a hint, shown after the column.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            ErrorKind::Parsing => "Error during parsing",
            ErrorKind::Syntax => "Syntax error",
        };
        write!(f, "{}:{} - {}: {}", self.file, self.line, prefix, self.message)?;
        match (self.column, &self.hint) {
            (0, None) => Ok(()),
            (0, Some(h)) => write!(f, " ({h})"),
            (c, None) => write!(f, " (column {c})"),
            (c, Some(h)) => write!(f, " (column {c}; {h})"),
        }
    }
}

impl std::error::Error for Error {}

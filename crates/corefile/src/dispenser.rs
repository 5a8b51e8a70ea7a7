//! `Dispenser`: a cursor over one directive's tokens, as Caddy's, for plugins' `parse` functions.

use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::lexer::{Token, lex};

/// Walks the tokens of every occurrence of one directive in a server block.
///
/// Mirrors Caddy's `Dispenser`: `next` moves to the next token wherever it is, `next_arg` only
/// to one on the same line, `next_block` steps through the lines of a `{ ... }` block.
#[derive(Debug, Clone)]
pub struct Dispenser {
    file: Arc<str>,
    tokens: Vec<Token>,
    /// Index of the current token; `None` before the first `next`.
    cursor: Option<usize>,
    nesting: usize,
}

impl Dispenser {
    /// A dispenser over `tokens`, positioned before the first one.
    pub fn new(file: Arc<str>, tokens: Vec<Token>) -> Self {
        Self {
            file,
            tokens,
            cursor: None,
            nesting: 0,
        }
    }

    /// Lexes `input` as if it were the file `Corefile`: the usual way to test a `parse`.
    pub fn from_text(input: &str) -> Self {
        Self::new(Arc::from("Corefile"), lex("Corefile", input))
    }

    /// Advances to the next token; false at the end.
    // Named as Caddy's `Dispenser.Next`, which plugin authors know; it is not an iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> bool {
        let next = self.cursor.map_or(0, |c| c + 1);
        if next < self.tokens.len() {
            self.cursor = Some(next);
            true
        } else {
            false
        }
    }

    /// Advances only if the next token is on the current token's line.
    pub fn next_arg(&mut self) -> bool {
        let Some(c) = self.cursor else { return false };
        match (self.tokens.get(c), self.tokens.get(c + 1)) {
            (Some(cur), Some(next)) if cur.file == next.file && cur.end_line() == next.line => {
                self.cursor = Some(c + 1);
                true
            }
            _ => false,
        }
    }

    /// Advances only if the next token is on another line.
    pub fn next_line(&mut self) -> bool {
        let Some(c) = self.cursor else { return self.next() };
        match (self.tokens.get(c), self.tokens.get(c + 1)) {
            (Some(cur), Some(next)) if cur.file != next.file || cur.end_line() < next.line => {
                self.cursor = Some(c + 1);
                true
            }
            _ => false,
        }
    }

    /// Steps into and through a `{ ... }` block that opens on the current line: each call moves
    /// to the first token of the next line inside it, and returns false at the closing brace.
    pub fn next_block(&mut self) -> bool {
        if self.nesting > 0 {
            if !self.next() {
                return false;
            }
            if self.current().is_some_and(Token::is_close) {
                self.nesting -= 1;
                return false;
            }
            return true;
        }
        if !self.next_arg() {
            return false;
        }
        if !self.current().is_some_and(Token::is_open) {
            self.back();
            return false;
        }
        if !self.next() || self.current().is_some_and(Token::is_close) {
            return false;
        }
        self.nesting += 1;
        true
    }

    /// The remaining arguments on this line, stopping before a `{`.
    pub fn remaining_args(&mut self) -> Vec<String> {
        let mut args = Vec::new();
        while self.next_arg() {
            if self.current().is_some_and(Token::is_open) {
                self.back();
                break;
            }
            args.push(self.val().to_string());
        }
        args
    }

    /// The current token's text ("" before the first `next`).
    pub fn val(&self) -> &str {
        self.current().map_or("", |t| t.text.as_str())
    }

    /// The current token.
    pub fn current(&self) -> Option<&Token> {
        self.cursor.and_then(|c| self.tokens.get(c))
    }

    /// The current token's line (0 before the first `next`).
    pub fn line(&self) -> usize {
        self.current().map_or(0, |t| t.line)
    }

    /// Steps back one token (Caddy's `cursor--`).
    pub fn back(&mut self) {
        self.cursor = match self.cursor {
            Some(0) | None => None,
            Some(c) => Some(c - 1),
        };
    }

    /// True when the current token is the first of its line (or of its file).
    pub fn is_new_line(&self) -> bool {
        let Some(c) = self.cursor else { return true };
        if c == 0 {
            return true;
        }
        match (self.tokens.get(c - 1), self.tokens.get(c)) {
            (Some(prev), Some(cur)) => prev.file != cur.file || prev.end_line() < cur.line,
            _ => false,
        }
    }

    /// `FILE:LINE - Error during parsing: MSG` at the current token.
    pub fn err(&self, message: impl Into<String>) -> Error {
        let (file, line, column) = match self.current() {
            Some(t) => (t.file.clone(), t.line, t.column),
            None => (self.file.clone(), self.tokens.last().map_or(0, |t| t.line), 0),
        };
        Error {
            file,
            line,
            column,
            kind: ErrorKind::Parsing,
            message: message.into(),
            hint: None,
        }
    }

    /// Caddy's `ArgErr`: a missing or extra argument.
    pub fn arg_err(&self) -> Error {
        if self.current().is_some_and(Token::is_open) {
            return self.err("Unexpected token '{', expecting argument");
        }
        self.err(format!(
            "Wrong argument count or unexpected line ending after '{}'",
            self.val()
        ))
    }

    /// Caddy's `SyntaxErr`: `Unexpected token 'X', expecting 'Y'`.
    pub fn syntax_err(&self, expected: &str) -> Error {
        let mut e = self.err(format!(
            "Unexpected token '{}', expecting '{}'",
            self.val(),
            expected
        ));
        e.kind = ErrorKind::Syntax;
        e
    }

    /// Caddy's `EOFErr`.
    pub fn eof_err(&self) -> Error {
        self.err("Unexpected EOF")
    }

    /// Replaces `import ARG` (the previous and the current token) by `imported`, leaving the
    /// cursor on the first imported token (Caddy's `doImport` splice).
    pub(crate) fn splice_import(&mut self, imported: Vec<Token>) {
        let Some(arg) = self.cursor else { return };
        let import_at = arg.saturating_sub(1);
        self.tokens.splice(import_at..=arg, imported);
        self.cursor = Some(import_at);
    }

    /// The file the tokens came from.
    pub fn file(&self) -> &Arc<str> {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_arg_stays_on_line_and_remaining_args_stop_at_brace() {
        let mut d = Dispenser::from_text("forward . 1.1.1.1 2.2.2.2 {\n max_fails 3\n}\nnext");
        assert!(d.next());
        assert_eq!(d.val(), "forward");
        assert_eq!(d.remaining_args(), [".", "1.1.1.1", "2.2.2.2"]);
        assert!(d.next_block());
        assert_eq!(d.val(), "max_fails");
        assert_eq!(d.remaining_args(), ["3"]);
        assert!(!d.next_block());
        assert_eq!(d.val(), "}");
        assert!(d.next());
        assert_eq!(d.val(), "next");
        assert!(!d.next_arg());
    }

    #[test]
    fn empty_block_and_no_block() {
        let mut d = Dispenser::from_text("cache {\n}\ncache 30");
        assert!(d.next());
        assert!(!d.next_block());
        assert!(d.next());
        assert_eq!(d.val(), "cache");
        assert_eq!(d.remaining_args(), ["30"]);
        assert!(!d.next_block());
    }

    #[test]
    fn errors_carry_file_and_line() {
        let mut d = Dispenser::from_text("hosts {\n  ttll 5\n}");
        d.next();
        d.next_block();
        assert_eq!(
            d.err(format!("unknown property '{}'", d.val())).to_string(),
            "Corefile:2 - Error during parsing: unknown property 'ttll' (column 3)"
        );
        assert_eq!(
            d.arg_err().message(),
            "Wrong argument count or unexpected line ending after 'ttll'"
        );
        let mut d = Dispenser::from_text("log {");
        d.next();
        d.next_arg();
        assert_eq!(d.arg_err().message(), "Unexpected token '{', expecting argument");
    }

    #[test]
    fn quoted_multi_line_token_keeps_next_on_same_logical_line() {
        let mut d = Dispenser::from_text("log \"a\nb\" c");
        d.next();
        assert_eq!(d.remaining_args(), ["a\nb", "c"]);
    }
}

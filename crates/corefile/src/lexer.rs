//! The Corefile lexer: Caddy's token rules, written with nom.
//!
//! Tokens are separated by white space; `#` outside quotes starts a comment that runs to the end of
//! the line, even in the middle of a token (Caddy's lexer does the same); a token that starts with
//! `"` runs to the next unescaped `"`, may span lines, and only `\"` is an escape. `{$VAR}` and
//! `{%VAR%}` are replaced by the environment's value (empty when unset), as Caddy's
//! `replaceEnvVars` does for keys and directive arguments.

use std::sync::Arc;

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::take_while1,
    character::complete::{char, multispace1, not_line_ending},
    combinator::{map, value},
    sequence::preceded,
};

/// One token of a Corefile, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    pub text: String,
    pub file: Arc<str>,
    /// 1-based line of the token's first character.
    pub line: usize,
    /// 1-based column (in characters) of the token's first character.
    pub column: usize,
    /// Whether the token was written in quotes (a quoted `{` is not a brace).
    pub quoted: bool,
}

impl Token {
    /// Number of line breaks inside the token (quoted tokens may span lines), which Caddy adds
    /// to the token's line when it decides whether the next token is on a new line.
    pub fn line_breaks(&self) -> usize {
        self.text.matches('\n').count()
    }

    /// The line the token ends on.
    pub fn end_line(&self) -> usize {
        self.line + self.line_breaks()
    }

    /// True for an unquoted `{`.
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }

    /// True for an unquoted `}`.
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

#[derive(Clone)]
enum Piece<'a> {
    Skip,
    Bare(&'a str),
    Quoted(String),
}

fn comment(i: &str) -> IResult<&str, Piece<'_>> {
    value(Piece::Skip, preceded(char('#'), not_line_ending)).parse(i)
}

fn blank(i: &str) -> IResult<&str, Piece<'_>> {
    value(Piece::Skip, multispace1).parse(i)
}

fn bare(i: &str) -> IResult<&str, Piece<'_>> {
    map(take_while1(|c: char| !c.is_whitespace() && c != '#'), Piece::Bare).parse(i)
}

/// A quoted token: everything up to the next unescaped quote, or to the end of input.
fn quoted(i: &str) -> IResult<&str, Piece<'_>> {
    let (rest, _) = char('"').parse(i)?;
    let mut text = String::new();
    let mut escaped = false;
    for (at, c) in rest.char_indices() {
        if escaped {
            if c != '"' {
                text.push('\\');
            }
            text.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Ok((&rest[at + 1..], Piece::Quoted(text)));
        } else {
            text.push(c);
        }
    }
    if escaped {
        text.push('\\');
    }
    Ok(("", Piece::Quoted(text)))
}

fn piece(i: &str) -> IResult<&str, Piece<'_>> {
    alt((blank, comment, quoted, bare)).parse(i)
}

/// Splits `input` into tokens, each tagged with `file`, its line and its column.
pub fn lex(file: &str, input: &str) -> Vec<Token> {
    let file: Arc<str> = Arc::from(file);
    let mut tokens = Vec::new();
    let mut rest = input;
    let (mut line, mut column) = (1usize, 1usize);
    // Position bookkeeping walks the consumed text once; tokens are short.
    let advance = |consumed: &str, line: &mut usize, column: &mut usize| {
        for c in consumed.chars() {
            if c == '\n' {
                *line += 1;
                *column = 1;
            } else {
                *column += 1;
            }
        }
    };
    while !rest.is_empty() {
        let Ok((next, piece)) = piece(rest) else {
            // Unreachable for any input: one of the alternatives always consumes a character.
            break;
        };
        let consumed = &rest[..rest.len() - next.len()];
        let (start_line, start_column) = (line, column);
        advance(consumed, &mut line, &mut column);
        let (text, quoted) = match piece {
            Piece::Skip => {
                rest = next;
                continue;
            }
            Piece::Bare(t) => (t.replace('\r', ""), false),
            Piece::Quoted(t) => (t, true),
        };
        tokens.push(Token {
            text: replace_env_vars(&text),
            file: file.clone(),
            line: start_line,
            column: start_column,
            quoted,
        });
        rest = next;
    }
    tokens
}

/// Caddy's `replaceEnvVars`: `{%VAR%}` first, then `{$VAR}`.
fn replace_env_vars(s: &str) -> String {
    let s = replace_env_references(s, "{%", "%}");
    replace_env_references(&s, "{$", "}")
}

fn replace_env_references(s: &str, start: &str, end: &str) -> String {
    let mut out = s.to_string();
    let mut from = 0;
    while let Some(found) = out[from..].find(start) {
        let begin = from + found;
        let Some(stop) = out[begin + start.len()..].find(end) else {
            break;
        };
        let name_end = begin + start.len() + stop;
        if name_end == begin + start.len() {
            break;
        }
        let value = std::env::var(&out[begin + start.len()..name_end]).unwrap_or_default();
        out.replace_range(begin..name_end + end.len(), &value);
        from = begin + value.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<(String, usize, usize)> {
        lex("Corefile", input)
            .into_iter()
            .map(|t| (t.text, t.line, t.column))
            .collect()
    }

    #[test]
    fn tokens_lines_and_columns() {
        let got = texts(". {\n  whoami\n\tlog  x\n}");
        let want = [
            (".", 1, 1),
            ("{", 1, 3),
            ("whoami", 2, 3),
            ("log", 3, 2),
            ("x", 3, 7),
            ("}", 4, 1),
        ];
        let want: Vec<_> = want.iter().map(|(t, l, c)| (t.to_string(), *l, *c)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn comments_anywhere_even_mid_token() {
        let got: Vec<_> = texts("a#b c\nd # e\n#f\ng").into_iter().map(|t| t.0).collect();
        assert_eq!(got, ["a", "d", "g"]);
    }

    #[test]
    fn quotes_group_and_escape_only_quotes() {
        let toks = lex(
            "C",
            r#"x "a b" "say \"hi\"" "c\d" "multi
line" y"#,
        );
        let got: Vec<_> = toks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(got, ["x", "a b", "say \"hi\"", "c\\d", "multi\nline", "y"]);
        assert!(toks[1].quoted && !toks[0].quoted);
        assert_eq!(toks[4].line_breaks(), 1);
        assert_eq!(toks[5].line, 2);
    }

    #[test]
    fn quote_inside_a_token_is_literal_and_hash_in_quotes_is_text() {
        let got: Vec<_> = texts(r##"a"b "#c""##).into_iter().map(|t| t.0).collect();
        assert_eq!(got, ["a\"b", "#c"]);
    }

    #[test]
    fn unterminated_quote_runs_to_end() {
        let got: Vec<_> = texts("\"abc").into_iter().map(|t| t.0).collect();
        assert_eq!(got, ["abc"]);
    }

    #[test]
    fn env_substitution_both_syntaxes() {
        // Cargo sets CARGO_PKG_NAME for every test process, so no environment is mutated here.
        let got: Vec<_> = texts("{$CARGO_PKG_NAME}:{%CARGO_PKG_NAME%} x{$CLUSTERDNS_LEX_UNSET}y {$}")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(got, ["corefile:corefile", "xy", "{$}"]);
    }

    #[test]
    fn crlf_line_endings() {
        let got = texts("a\r\nb");
        assert_eq!(got, [("a".into(), 1, 1), ("b".into(), 2, 1)]);
    }
}

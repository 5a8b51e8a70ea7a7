//! Server blocks from tokens: Caddy's `parse.go` rules, with imports and snippets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dispenser::Dispenser;
use crate::error::Error;
use crate::lexer::{Token, lex};

/// CoreDNS caps snippet and file imports at this many expansions (cyclic imports end here).
const MAX_EXPANSIONS: usize = 1000;

/// All the tokens of one directive name in a server block, every occurrence in Corefile order,
/// as Caddy groups them (`ServerBlock.Tokens[dir]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirectiveTokens {
    pub name: String,
    pub tokens: Vec<Token>,
}

impl DirectiveTokens {
    /// A dispenser over these tokens, for the directive's `parse`.
    pub fn dispenser(&self) -> Dispenser {
        let file = self
            .tokens
            .first()
            .map_or_else(|| Arc::from(""), |t| t.file.clone());
        Dispenser::new(file, self.tokens.clone())
    }

    /// The token that names the directive's first occurrence (for error locations).
    pub fn first(&self) -> Option<&Token> {
        self.tokens.first()
    }
}

/// One server block: its keys and its directives grouped by name, in order of first appearance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerBlock {
    pub keys: Vec<Token>,
    pub directives: Vec<DirectiveTokens>,
}

impl ServerBlock {
    /// The tokens of directive `name`, if the block has it.
    pub fn directive(&self, name: &str) -> Option<&DirectiveTokens> {
        self.directives.iter().find(|d| d.name == name)
    }
}

/// Reads and parses the Corefile at `path`; imports are resolved relative to it.
/// Takes out the blocks made of nothing but a `}` that closes no block (an extra brace at the
/// end of a Corefile, which Caddy's parser reads as a server block keyed `}` and CoreDNS serves
/// silently) and says where each was: `Corefile:9 - ...`, for a warning at start and an error
/// in `-validate`.
pub fn take_stray_braces(blocks: &mut Vec<ServerBlock>) -> Vec<String> {
    let mut found = Vec::new();
    blocks.retain(|b| {
        let stray = b.directives.is_empty() && !b.keys.is_empty() && b.keys.iter().all(Token::is_close);
        if stray && let Some(k) = b.keys.first() {
            found.push(format!(
                "{}:{} - Unexpected '}}' because no matching opening brace (column {}; CoreDNS 1.11.3 ignores it)",
                k.file, k.line, k.column
            ));
        }
        !stray
    });
    found
}

pub fn parse_file(path: &Path, known: &[&str]) -> Result<Vec<ServerBlock>, Error> {
    let name = path.display().to_string();
    let input = crate::read_text(path).map_err(|e| Error {
        file: Arc::from(name.as_str()),
        line: 0,
        column: 0,
        kind: crate::ErrorKind::Parsing,
        message: format!("could not read the Corefile: {e}"),
        hint: None,
    })?;
    parse(&name, &input, known)
}

/// Parses Corefile text named `file`. Directives not in `known` are errors, as CoreDNS's
/// `Unknown directive`, with the nearest known name as a hint; an empty `known` accepts any
/// directive (as CoreDNS's reload parses, leaving unknown ones to fail at setup).
pub fn parse(file: &str, input: &str, known: &[&str]) -> Result<Vec<ServerBlock>, Error> {
    let mut p = Parser {
        d: Dispenser::new(Arc::from(file), lex(file, input)),
        known,
        snippets: Vec::new(),
        snippet_expansions: 0,
        file_expansions: 0,
        eof: false,
    };
    p.parse_all()
}

struct Parser<'k> {
    d: Dispenser,
    known: &'k [&'k str],
    snippets: Vec<(String, Vec<Token>)>,
    snippet_expansions: usize,
    file_expansions: usize,
    eof: bool,
}

#[derive(Default)]
struct Block {
    keys: Vec<Token>,
    directives: Vec<DirectiveTokens>,
}

impl Parser<'_> {
    fn parse_all(&mut self) -> Result<Vec<ServerBlock>, Error> {
        let mut blocks = Vec::new();
        while self.d.next() {
            let block = self.parse_one()?;
            if !block.keys.is_empty() {
                blocks.push(ServerBlock {
                    keys: block.keys,
                    directives: block.directives,
                });
            }
        }
        Ok(blocks)
    }

    fn parse_one(&mut self) -> Result<Block, Error> {
        let mut block = Block::default();
        self.eof = false;
        self.addresses(&mut block)?;
        if self.eof {
            // A Corefile that is only a line of keys.
            return Ok(block);
        }
        if let Some(name) = snippet_name(&block.keys) {
            if self.snippets.iter().any(|(n, _)| *n == name) {
                return Err(self
                    .d
                    .err(format!("redeclaration of previously declared snippet {name}")));
            }
            let tokens = self.snippet_tokens()?;
            self.snippets.push((name, tokens));
            block.keys.clear();
            return Ok(block);
        }
        self.block_contents(&mut block)?;
        Ok(block)
    }

    fn addresses(&mut self, block: &mut Block) -> Result<(), Error> {
        let mut expecting_another = false;
        loop {
            let tok = self.d.current().cloned();
            let Some(tok) = tok else { break };
            if tok.text == "import" && !tok.quoted && self.d.is_new_line() {
                self.do_import()?;
                // The cursor now rests on the first imported token (or what followed it).
                if self.d.current().is_none() {
                    self.eof = true;
                    break;
                }
                continue;
            }
            if tok.is_open() {
                if expecting_another {
                    return Err(self.d.err(format!(
                        "Expected another address but had '{}' - check for extra comma",
                        tok.text
                    )));
                }
                break;
            }
            if !tok.text.is_empty() {
                let mut key = tok.clone();
                expecting_another = key.text.ends_with(',');
                if expecting_another {
                    key.text.pop();
                }
                // `a.org,b.org` written without spaces is one token; CoreDNS would take it as a
                // single (invalid) zone, we take both zones.
                for (i, part) in key.text.split(',').filter(|p| !p.is_empty()).enumerate() {
                    let mut k = key.clone();
                    k.text = part.to_string();
                    if i > 0 {
                        k.column = 0;
                    }
                    block.keys.push(k);
                }
            }
            let has_next = self.d.next();
            if expecting_another && !has_next {
                return Err(self.d.eof_err());
            }
            if !has_next {
                self.eof = true;
                break;
            }
            if !expecting_another && self.d.is_new_line() {
                break;
            }
        }
        Ok(())
    }

    fn block_contents(&mut self, block: &mut Block) -> Result<(), Error> {
        let braced = self.d.current().is_some_and(Token::is_open);
        if !braced {
            // A single server block needs no braces.
            self.d.back();
        }
        self.directives(block)?;
        if braced && !self.d.current().is_some_and(Token::is_close) {
            return Err(self.d.syntax_err("}"));
        }
        Ok(())
    }

    fn directives(&mut self, block: &mut Block) -> Result<(), Error> {
        while self.d.next() {
            let tok = self.d.current().cloned();
            let Some(tok) = tok else { break };
            if tok.is_close() {
                break;
            }
            if tok.text == "import" && !tok.quoted {
                self.do_import()?;
                self.d.back();
                continue;
            }
            self.directive(block, tok)?;
        }
        Ok(())
    }

    fn directive(&mut self, block: &mut Block, name: Token) -> Result<(), Error> {
        if !self.known.is_empty() && !self.known.contains(&name.text.as_str()) {
            let err = self.d.err(format!("Unknown directive '{}'", name.text));
            return Err(match hint_for(&name.text, self.known) {
                Some(h) => err.with_hint(h),
                None => err,
            });
        }
        let at = match block.directives.iter().position(|d| d.name == name.text) {
            Some(at) => at,
            None => {
                block.directives.push(DirectiveTokens {
                    name: name.text.clone(),
                    tokens: Vec::new(),
                });
                block.directives.len() - 1
            }
        };
        block.directives[at].tokens.push(name);
        let mut nesting = 0usize;
        while self.d.next() {
            let tok = self.d.current().cloned();
            let Some(tok) = tok else { break };
            if tok.is_open() {
                nesting += 1;
            } else if self.d.is_new_line() && nesting == 0 {
                self.d.back();
                break;
            } else if tok.is_close() && nesting > 0 {
                nesting -= 1;
            } else if tok.is_close() {
                return Err(self.d.err("Unexpected '}' because no matching opening brace"));
            } else if tok.text == "import" && !tok.quoted && self.d.is_new_line() {
                self.do_import()?;
                self.d.back();
                continue;
            }
            block.directives[at].tokens.push(tok);
        }
        if nesting > 0 {
            return Err(self.d.eof_err());
        }
        Ok(())
    }

    fn snippet_tokens(&mut self) -> Result<Vec<Token>, Error> {
        if !self.d.current().is_some_and(Token::is_open) {
            return Err(self.d.syntax_err("{"));
        }
        let mut depth = 1usize;
        let mut tokens = Vec::new();
        while self.d.next() {
            let Some(tok) = self.d.current().cloned() else {
                break;
            };
            if tok.is_close() {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            if tok.is_open() {
                depth += 1;
            }
            tokens.push(tok);
        }
        if depth != 0 {
            return Err(self.d.syntax_err("}"));
        }
        Ok(tokens)
    }

    /// Replaces `import ARG` with the snippet's or the files' tokens. Afterwards the current
    /// token is the first imported one (callers in a `next` loop step back first).
    fn do_import(&mut self) -> Result<(), Error> {
        if !self.d.next_arg() {
            return Err(self.d.arg_err());
        }
        let pattern = self.d.val().to_string();
        if pattern.is_empty() {
            return Err(self.d.err("Import requires a non-empty filepath"));
        }
        if self.d.next_arg() {
            return Err(self
                .d
                .err("Import takes only one argument (glob pattern or file)"));
        }
        let imported = if let Some((_, tokens)) = self.snippets.iter().find(|(n, _)| *n == pattern) {
            if self.snippet_expansions >= MAX_EXPANSIONS {
                return Err(self.d.err(format!(
                    "maximum snippet import depth ({MAX_EXPANSIONS}) exceeded"
                )));
            }
            self.snippet_expansions += 1;
            tokens.clone()
        } else {
            if self.file_expansions >= MAX_EXPANSIONS {
                return Err(self
                    .d
                    .err(format!("maximum file import depth ({MAX_EXPANSIONS}) exceeded")));
            }
            self.file_expansions += 1;
            self.import_files(&pattern)?
        };
        self.d.splice_import(imported);
        Ok(())
    }

    fn import_files(&self, pattern: &str) -> Result<Vec<Token>, Error> {
        let current = self
            .d
            .current()
            .map_or_else(|| self.d.file().clone(), |t| t.file.clone());
        let base = Path::new(current.as_ref())
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let full: PathBuf = if Path::new(pattern).is_absolute() {
            pattern.into()
        } else {
            base.join(pattern)
        };
        let glob_pattern = full.display().to_string();
        if glob_pattern.matches('*').count() > 1
            || glob_pattern.matches('?').count() > 1
            || (glob_pattern.contains('[') && glob_pattern.contains(']'))
        {
            return Err(self.d.err(format!(
                "Glob pattern may only contain one wildcard (*), but has others: {glob_pattern}"
            )));
        }
        let matches: Vec<PathBuf> = glob::glob(&glob_pattern)
            .map_err(|e| self.d.err(format!("Failed to use import pattern {pattern}: {e}")))?
            .filter_map(Result::ok)
            .collect();
        if matches.is_empty() {
            if glob_pattern.contains(['*', '?', '[', ']']) {
                tracing::warn!("No files matching import glob pattern: {pattern}");
            } else {
                return Err(self.d.err(format!("File to import not found: {pattern}")));
            }
        }
        let mut tokens = Vec::new();
        for path in matches {
            if path.is_dir() {
                return Err(self
                    .d
                    .err(format!("Could not import {}: is a directory", path.display())));
            }
            let text = crate::read_text(&path)
                .map_err(|e| self.d.err(format!("Could not import {}: {e}", path.display())))?;
            let abs = std::path::absolute(&path).unwrap_or(path);
            tokens.extend(lex(&abs.display().to_string(), &text));
        }
        Ok(tokens)
    }
}

fn snippet_name(keys: &[Token]) -> Option<String> {
    match keys {
        [k] if k.text.starts_with('(') && k.text.ends_with(')') && k.text.len() >= 2 => {
            Some(k.text[1..k.text.len() - 1].to_string())
        }
        _ => None,
    }
}

/// A hint for an unknown directive: what replaced a removed one, else the nearest known name.
fn hint_for(name: &str, known: &[&str]) -> Option<String> {
    match name {
        "proxy" => return Some("did you mean 'forward'? 'proxy' was removed in CoreDNS 1.5.0".into()),
        "upstream" | "resyncperiod" => {
            return Some(format!(
                "'{name}' is not a directive; it was a kubernetes option, since removed"
            ));
        }
        _ => {}
    }
    let (best, distance) = known
        .iter()
        .map(|k| (*k, edit_distance(name, k)))
        .min_by_key(|(_, d)| *d)?;
    (distance <= 2.max(name.len() / 3)).then(|| format!("did you mean '{best}'?"))
}

/// Levenshtein distance, for the "did you mean" hint.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;

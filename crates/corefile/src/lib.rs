//! Corefile lexer and parser, with CoreDNS's (Caddyfile) grammar and error texts.
//!
//! `parse` turns a Corefile into server blocks whose directives are grouped by name, as CoreDNS
//! does; `Dispenser` walks one directive's tokens for a plugin's `parse`; `address` turns server
//! block keys into zones and ports.

mod address;
mod dispenser;
mod error;
mod file;
mod lexer;
mod parser;

pub use address::{Key, Transport, parse_key, reverse_zones_of_cidr};
pub use dispenser::Dispenser;
pub use error::{Error, ErrorKind};
pub use file::{MAX_FILE, read_text};
pub use lexer::{Token, lex};
pub use parser::{DirectiveTokens, ServerBlock, parse, parse_file, take_stray_braces};

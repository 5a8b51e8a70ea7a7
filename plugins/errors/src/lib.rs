//! The `errors` directive: logs every error the rest of the chain returns, with `consolidate`.

mod errors;
mod setup;

pub use errors::{Errors, Level, Pattern};
pub use setup::{parse, setup};

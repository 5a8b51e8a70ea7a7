//! The `cancel` directive: a deadline for each query's trip down the chain.

mod cancel;
mod setup;

pub use cancel::Cancel;
pub use setup::{parse, setup};

//! The `minimal` directive: positive replies without their authority and additional sections.

mod minimal;
mod setup;

pub use minimal::Minimal;
pub use setup::{parse, setup};

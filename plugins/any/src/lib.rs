//! The `any` directive: ANY queries answered with a HINFO record, as RFC 8482 allows.

mod any;
mod setup;

pub use any::Any;
pub use setup::setup;

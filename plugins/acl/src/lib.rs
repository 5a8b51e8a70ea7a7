//! The `acl` directive: allows, blocks, filters or drops queries by client network and type.

mod acl;
mod metrics;
mod setup;

pub use acl::{Acl, Action, Policy, Rule};
pub use setup::{parse, setup};

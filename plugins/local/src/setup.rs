//! `local` takes no arguments (CoreDNS 1.11.3 ignores any it is given).

use std::sync::Arc;

use clusterdns_plugin::{Setup, SetupError};

use crate::local::Local;

/// Sets up `local`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    s.add_handler(Arc::new(Local));
    Ok(())
}

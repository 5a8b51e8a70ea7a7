//! `metadata [ZONES...]`, as CoreDNS 1.11.3 parses it.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, MetadataProvider, Setup, SetupError, Zones};

use crate::metadata::Metadata;

/// Sets up `metadata`, linked to the block's providers.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let zones = parse(s.dispenser(), &zones)?;
    let providers = vec![s.link::<dyn MetadataProvider>("kubernetes", "Provider", false)];
    s.add_handler(Arc::new(Metadata::new(zones, providers)));
    Ok(())
}

/// The zones metadata is collected for: the arguments, else the block's. No block.
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Zones, SetupError> {
    d.next();
    let args = d.remaining_args();
    let zones = if args.is_empty() {
        Zones::parse(block_zones)
    } else {
        Zones::parse(&args)
    }
    .map_err(SetupError::Other)?;
    if d.next_block() || d.next() {
        return Err(SetupError::Other(format!("plugin/metadata: {}", d.arg_err())));
    }
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let p = |input: &str| {
            parse(&mut Dispenser::from_text(input), &[".".to_string()]).map_err(|e| e.to_string())
        };
        assert_eq!(p("metadata"), Ok(Zones::parse(&["."]).expect("zones")));
        assert_eq!(
            p("metadata cluster.local"),
            Ok(Zones::parse(&["cluster.local."]).expect("zones"))
        );
        assert!(
            p("metadata {\n x\n}")
                .expect_err("block")
                .contains("plugin/metadata: ")
        );
        assert!(
            p("metadata\nmetadata")
                .expect_err("twice")
                .contains("Wrong argument count")
        );
    }
}

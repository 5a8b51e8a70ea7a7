//! `autopath [ZONES...] RESOLV-CONF|@PLUGIN`, with CoreDNS 1.11.3's defaults and error texts.

use std::path::Path;
use std::sync::Arc;

use clusterdns_plugin::{AutoPather, Dispenser, Setup, SetupError, Zones, resolv};

use crate::autopath::AutoPath;

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Zones searched: the arguments, else the server block's.
    pub zones: Zones,
    /// A fixed search list from a resolv.conf, ending with `""` (the name as asked); empty
    /// with `@PLUGIN`.
    pub search: Vec<String>,
    /// The plugin giving each client's search path (`@kubernetes`).
    pub plugin: Option<String>,
}

/// Sets up `autopath`, linked to the plugin named with `@` (none in the block: autopath then
/// does nothing, as in CoreDNS).
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    let pather = config
        .plugin
        .as_deref()
        .map(|p| s.link::<dyn AutoPather>(p, "AutoPather", false));
    s.add_handler(Arc::new(AutoPath::new(config, pather)));
    Ok(())
}

/// Parses the directive; `block_zones` are the default zones.
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let mut config = Config {
        zones: Zones::parse(block_zones).map_err(SetupError::Other)?,
        search: Vec::new(),
        plugin: None,
    };
    while d.next() {
        let mut args = d.remaining_args();
        let Some(resolv) = args.pop() else {
            return Err(SetupError::Other("no resolv-conf specified".into()));
        };
        if let Some(plugin) = resolv.strip_prefix('@') {
            config.plugin = Some(plugin.to_string());
        } else {
            let search = resolv::search_list(Path::new(&resolv)).map_err(|e| {
                // Go's os.Open text for the common case.
                let e = if e.contains("os error 2") {
                    format!("open {resolv}: no such file or directory")
                } else {
                    e
                };
                SetupError::Other(format!("failed to parse {resolv:?}: {e}"))
            })?;
            config.search = search;
            config.search.push(String::new());
        }
        if !args.is_empty() {
            config.zones = Zones::parse(&args).map_err(SetupError::Other)?;
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Result<Config, String> {
        parse(&mut Dispenser::from_text(input), &[".".to_string()]).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        let dir = std::env::temp_dir().join(format!("autopath-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let resolv = dir.join("resolv.conf");
        std::fs::write(&resolv, "nameserver 1.2.3.4\nsearch Example.org a.example.com\n").expect("write");
        let resolv = resolv.display().to_string();

        let c = parsed("autopath @kubernetes").expect("ok");
        assert_eq!(c.plugin.as_deref(), Some("kubernetes"));
        assert!(c.search.is_empty());
        assert_eq!(c.zones, Zones::parse(&["."]).expect("zones"));

        let c = parsed(&format!("autopath {resolv}")).expect("ok");
        assert_eq!(c.plugin, None);
        assert_eq!(c.search, ["example.org.", "a.example.com.", ""]);

        let c = parsed("autopath cluster.local Example.ORG @kubernetes").expect("ok");
        assert_eq!(
            c.zones,
            Zones::parse(&["cluster.local.", "example.org."]).expect("zones")
        );

        assert_eq!(parsed("autopath").expect_err("none"), "no resolv-conf specified");
        assert_eq!(
            parsed("autopath /nonexistent/resolv.conf").expect_err("missing"),
            "failed to parse \"/nonexistent/resolv.conf\": open /nonexistent/resolv.conf: no such file or directory"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

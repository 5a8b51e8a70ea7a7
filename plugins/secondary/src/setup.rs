//! `secondary [ZONES...] { transfer from ADDRESS... }`: parsed into a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Setup, SetupError, Transferer, host_port};
use plugin_file::{File, ZoneSource};

use crate::secondary::Refresher;

/// The zones of a `secondary` line and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub zones: Vec<Name>,
    /// Primaries, tried in order (port 53 unless given).
    pub from: Vec<SocketAddr>,
}

pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let configs = parse(s.dispenser(), &zones)?;
    let sources: Vec<Arc<ZoneSource>> = configs
        .iter()
        .flat_map(|c| {
            c.zones
                .iter()
                .map(|z| Arc::new(ZoneSource::secondary(z.clone(), c.from.clone())))
        })
        .collect();
    s.add_service(Arc::new(Refresher::new(sources.clone())));
    let handler = Arc::new(File::named("secondary", sources));
    s.provide::<dyn Transferer>(handler.clone());
    s.add_handler(handler);
    Ok(())
}

pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Vec<Config>, SetupError> {
    let mut configs = Vec::new();
    while d.next() {
        let args = d.remaining_args();
        let zones = clusterdns_plugin::origins(&args, block_zones).map_err(|e| d.err(e))?;
        let mut config = Config {
            zones,
            from: Vec::new(),
        };
        while d.next_block() {
            match d.val() {
                "transfer" => {
                    let args = d.remaining_args();
                    let Some((what, froms)) = args.split_first() else {
                        return Err(d.arg_err().into());
                    };
                    if what != "from" {
                        return Err(d.err(format!("unknown property {what}")).into());
                    }
                    if froms.is_empty() {
                        return Err(d.arg_err().into());
                    }
                    for from in froms {
                        if from == "*" {
                            return Err(d.err("can't use '*' in transfer from").into());
                        }
                        config.from.push(host_port(from, 53).map_err(|e| d.err(e))?);
                    }
                }
                other => return Err(d.err(format!("unknown property '{other}'")).into()),
            }
        }
        configs.push(config);
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Result<Vec<Config>, String> {
        parse(&mut Dispenser::from_text(input), &["example.org.".into()]).map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let c = parsed("secondary {\n transfer from 10.0.1.1 10.1.2.1:5300\n}").expect("ok");
        assert_eq!(c[0].zones, [Name::from_ascii("example.org.").expect("name")]);
        assert_eq!(
            c[0].from,
            [
                "10.0.1.1:53".parse::<SocketAddr>().expect("a"),
                "10.1.2.1:5300".parse().expect("a")
            ]
        );
        let c = parsed("secondary a.org b.org").expect("no primaries: nothing to transfer");
        assert_eq!(c[0].zones.len(), 2);
        assert!(c[0].from.is_empty());
        for (input, want) in [
            ("secondary {\n transfer to 10.0.0.1\n}", "unknown property to"),
            ("secondary {\n transfer from\n}", "Wrong argument count"),
            (
                "secondary {\n transfer from *\n}",
                "can't use '*' in transfer from",
            ),
            (
                "secondary {\n transfer from primary.example\n}",
                "must specify an IP address",
            ),
            ("secondary {\n notify\n}", "unknown property 'notify'"),
        ] {
            let e = parsed(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}

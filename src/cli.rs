//! Command-line flags with Go's `flag` rules, so CoreDNS's args (`-conf FILE`, `-dns.port=53`)
//! work unchanged; `--name` spellings work too.

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cli {
    pub conf: Option<PathBuf>,
    pub port: Option<u16>,
    pub pidfile: Option<PathBuf>,
    pub plugins: bool,
    pub quiet: bool,
    pub version: bool,
    pub validate: bool,
}

/// Usage text, as Go's flag package prints it.
pub const USAGE: &str = "Usage of clusterdns:
  -conf string
    \tCorefile to load (default \"Corefile\")
  -dns.port string
    \tDefault port (default \"53\"); -p is an alias
  -pidfile string
    \tFile path to write pid file
  -plugins
    \tList installed plugins
  -quiet
    \tQuiet mode (no initialization output)
  -validate
    \tParse the Corefile and set up every plugin without binding sockets; print every error
  -version
    \tShow version";

/// Parses the arguments after the program name. The error is Go's text.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("flag needs an argument: -{name}"))
        };
        let boolean = |v: Option<String>| match v.as_deref() {
            None | Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
            Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(format!(
                "invalid boolean value \"{other}\" for -{name}: parse error"
            )),
        };
        match name {
            "conf" => cli.conf = Some(value(name)?.into()),
            "dns.port" | "p" => {
                let v = value(name)?;
                cli.port = Some(
                    v.parse()
                        .map_err(|_| format!("invalid port \"{v}\" for -{name}"))?,
                );
            }
            "pidfile" => cli.pidfile = Some(value(name)?.into()),
            "plugins" => cli.plugins = boolean(inline.clone())?,
            "quiet" => cli.quiet = boolean(inline.clone())?,
            "version" => cli.version = boolean(inline.clone())?,
            "validate" => cli.validate = boolean(inline.clone())?,
            other => return Err(format!("flag provided but not defined: -{other}")),
        }
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_flag_spellings() {
        let want = Cli {
            conf: Some("/etc/coredns/Corefile".into()),
            port: Some(1053),
            ..Cli::default()
        };
        assert_eq!(
            cli(&["-conf", "/etc/coredns/Corefile", "-dns.port", "1053"]),
            Ok(want.clone())
        );
        assert_eq!(
            cli(&["--conf=/etc/coredns/Corefile", "--dns.port=1053"]),
            Ok(want.clone())
        );
        assert_eq!(cli(&["-conf", "/etc/coredns/Corefile", "-p", "1053"]), Ok(want));
        let flags = cli(&[
            "-quiet",
            "-plugins",
            "--version",
            "-validate=true",
            "-pidfile",
            "/run/x.pid",
        ])
        .expect("flags");
        assert!(flags.quiet && flags.plugins && flags.version && flags.validate);
        assert_eq!(flags.pidfile, Some("/run/x.pid".into()));
        assert!(!cli(&["-quiet=false"]).expect("flags").quiet);
    }

    #[test]
    fn errors_read_as_go() {
        assert_eq!(
            cli(&["-proxy"]),
            Err("flag provided but not defined: -proxy".into())
        );
        assert_eq!(cli(&["-conf"]), Err("flag needs an argument: -conf".into()));
        assert_eq!(cli(&["-p", "x"]), Err("invalid port \"x\" for -p".into()));
        assert!(cli(&["-quiet=maybe"]).is_err());
    }
}

//! clusterdns: a CoreDNS-compatible cluster DNS server. Reads a Corefile, serves it.

mod cli;

use clusterdns::nodecache::{self, NodeCache};
use clusterdns::{registry, reload, server};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clusterdns_plugin::clog;

/// jemalloc with the `jemalloc` feature (the image, the benches), trimmed to return freed pages
/// within a second (see .cargo/config.toml): glibc kept the peak of a big cluster's first sync
/// resident for good. Without it, the system's malloc, which heap profilers (heaptrack, massif)
/// see.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Served when there is no `-conf` and no `./Corefile`: answers without a cluster, from
/// /etc/hosts and the host's resolvers.
const DEFAULT_COREFILE: &str = ". {\n    errors\n    log\n    hosts {\n        fallthrough\n    }\n    cache 30\n    forward . /etc/resolv.conf\n}\n";

/// CoreDNS's own default, for hosts whose /etc/resolv.conf names no nameserver.
const WHOAMI_COREFILE: &str = ". {\n    whoami\n    log\n}\n";

/// Which Corefile to read, and what to call it in errors.
enum Source {
    File(PathBuf),
    Builtin,
}

fn main() -> ExitCode {
    let code = serve();
    // Log lines still queued for standard output are written before the process ends.
    clog::flush();
    code
}

/// Everything `main` does: validate or serve, as the flags say.
fn serve() -> ExitCode {
    let cli = match cli::parse(std::env::args().skip(1)) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    if cli.version {
        println!("{}", version());
        return ExitCode::SUCCESS;
    }
    if cli.plugins {
        print_plugins();
        return ExitCode::SUCCESS;
    }
    let source = match &cli.conf {
        Some(path) => Source::File(path.clone()),
        None if Path::new("Corefile").exists() => Source::File("Corefile".into()),
        None => Source::Builtin,
    };
    let port = cli.port.unwrap_or(53);
    let node_cache =
        match nodecache::Params::from_flags(&cli.node_cache, port, cli.conf.as_ref(), cli.pidfile.as_ref()) {
            None => None,
            Some(params) => {
                clog::info(
                    None,
                    format_args!("Starting node-cache image: {}", env!("CARGO_PKG_VERSION")),
                );
                match params {
                    Ok(params) => {
                        clog::info(None, format_args!("Using Corefile {}", params.corefile.display()));
                        if let Some(pidfile) = &params.pidfile {
                            clog::info(None, format_args!("Using Pidfile {}", pidfile.display()));
                        }
                        Some(params)
                    }
                    Err(e) => clog::fatal(None, format_args!("Error parsing flags - {e}, Exiting")),
                }
            }
        };
    // Before any thread starts: capabilities are per thread.
    clusterdns::capabilities::raise(node_cache.is_some());
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    if cli.validate {
        return match load(&source, port, true) {
            Ok((_, plan)) => {
                println!(
                    "Corefile is valid: {} zone(s) on {} listener(s)",
                    plan.served.len(),
                    plan.listeners.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("{e}");
                }
                ExitCode::FAILURE
            }
        };
    }
    // node-cache writes the Corefile and makes the link its `bind` needs before it is loaded
    // (not for -validate, which changes nothing).
    let node_cache = node_cache.map(|params| runtime.block_on(NodeCache::init(params)));
    let (blocks, plan) = match load(&source, port, false) {
        Ok(loaded) => loaded,
        Err(errors) => {
            // CoreDNS stops at start-up on a bad Corefile; so do we, naming every problem.
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let path = match source {
        Source::File(path) => Some(path),
        Source::Builtin => None,
    };
    let reloader = reload::Reloader::new(path, &blocks, port);
    match run(&runtime, plan, reloader, &cli, node_cache) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the Corefile and sets up every plugin: no sockets yet. A stray `}` at the end, which
/// CoreDNS ignores, is a warning, or with `strict` (`-validate`) an error.
fn load(
    source: &Source,
    port: u16,
    strict: bool,
) -> Result<(Vec<corefile::ServerBlock>, server::Plan), Vec<String>> {
    let known = registry::names();
    let mut blocks = match source {
        Source::File(path) => corefile::parse_file(path, &known),
        Source::Builtin => corefile::parse("<builtin>", builtin_corefile(), &known),
    }
    .map_err(|e| vec![e.to_string()])?;
    let strays = corefile::take_stray_braces(&mut blocks);
    if !strict {
        for stray in &strays {
            clusterdns_plugin::clog::warning(None, format_args!("{stray}"));
        }
    }
    let plan = server::assemble(&blocks, port, &server::Heritage::default());
    match plan {
        Ok(plan) if !strict || strays.is_empty() => Ok((blocks, plan)),
        Ok(_) => Err(strays),
        Err(errors) if strict => Err(strays.into_iter().chain(errors).collect()),
        Err(errors) => Err(errors),
    }
}

/// The default Corefile, or CoreDNS's whoami one where there is no resolver to forward to.
fn builtin_corefile() -> &'static str {
    let has_nameserver = std::fs::read_to_string("/etc/resolv.conf").is_ok_and(|text| {
        text.lines()
            .any(|l| l.split_whitespace().next() == Some("nameserver"))
    });
    if has_nameserver {
        DEFAULT_COREFILE
    } else {
        WHOAMI_COREFILE
    }
}

/// The runtime everything async runs on, after raising the descriptor limit.
fn runtime() -> Result<tokio::runtime::Runtime> {
    // Every connection and upstream socket is a descriptor: take what the hard limit allows,
    // as Go's runtime does for CoreDNS since Go 1.19.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        clog::warning(None, format_args!("could not raise the open file limit: {e}"));
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

fn run(
    runtime: &tokio::runtime::Runtime,
    plan: server::Plan,
    mut reloader: reload::Reloader,
    cli: &cli::Cli,
    mut node_cache: Option<NodeCache>,
) -> Result<()> {
    clusterdns_plugin::metrics::init(env!("CARGO_PKG_VERSION"));
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let served = plan.served.clone();
        let (reload_tx, mut reload_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut running = server::start(plan, reload_tx.clone())
            .await
            .map_err(anyhow::Error::msg)?;
        if let Some(pidfile) = &cli.pidfile {
            std::fs::write(pidfile, format!("{}\n", std::process::id()))
                .with_context(|| format!("could not write pidfile {}", pidfile.display()))?;
        }
        // Serving now: node-cache's rules may divert traffic here.
        if let Some(node_cache) = &mut node_cache {
            node_cache.start(reload_tx);
        }
        if !cli.quiet {
            for zone in &served {
                println!("{zone}");
            }
            println!("{}", version());
        }
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let mut usr1 = signal(SignalKind::user_defined1()).context("SIGUSR1 handler")?;
        let signal = loop {
            tokio::select! {
                _ = term.recv() => break "SIGTERM",
                _ = int.recv() => break "SIGINT",
                // SIGUSR1 and the reload plugin's timer: check the Corefile now.
                _ = usr1.recv() => reloader.check(&mut running).await,
                Some(()) = reload_rx.recv() => reloader.check(&mut running).await,
            }
        };
        clog::info(
            None,
            format_args!("{signal}: Shutting down servers then terminating"),
        );
        // CoreDNS runs its exit hooks (node-cache's teardown) before the shutdown on SIGINT,
        // after it on SIGTERM.
        if signal == "SIGINT"
            && let Some(node_cache) = &node_cache
        {
            node_cache.teardown().await;
        }
        running.shut_down().await;
        if signal == "SIGTERM"
            && let Some(node_cache) = &node_cache
        {
            node_cache.teardown().await;
        }
        if let Some(pidfile) = &cli.pidfile {
            let _ = std::fs::remove_file(pidfile);
        }
        Ok(())
    })
}

fn version() -> String {
    format!(
        "clusterdns-{} (CoreDNS-1.11.3 compatible)\n{}/{}, rust",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// CoreDNS's `-plugins` listing; plugins in execution order rather than alphabetical.
fn print_plugins() {
    println!("Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:");
    for d in registry::DIRECTIVES.iter().filter(|d| d.setup.is_some()) {
        println!("  dns.{}", d.name);
    }
}

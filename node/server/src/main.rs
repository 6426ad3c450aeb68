//! `tern`: one Tern node. `tern serve --dev` runs a complete single-node server on the embedded
//! store with loopback ports and demo fixtures; `tern serve --config tern.toml` runs production.

use tern_server::{alloc, config, logging, serve};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tern", version, about = "Tern, a clustered mail server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node.
    Serve {
        /// Development profile: embedded store under ./data, loopback ports, demo account.
        #[arg(long)]
        dev: bool,
        /// TOML configuration file.
        #[arg(long, short, env = "TERN_CONFIG")]
        config: Option<String>,
        /// With --dev: start a throwaway PostgreSQL (initdb on a free loopback port, deleted on
        /// exit; needs the machine's PostgreSQL server binaries) and run the node on it.
        #[cfg(feature = "postgres")]
        #[arg(long, requires = "dev")]
        dev_postgres: bool,
        /// Start a new cluster on this node even if `cluster.join` names members (once, on the
        /// first node; ignored when this node already belongs to a cluster).
        #[arg(long)]
        cluster_init: bool,
    },
    /// Validate the configuration and print it as TOML (secrets shown as "<redacted>").
    CheckConfig {
        /// Check the development profile.
        #[arg(long)]
        dev: bool,
        /// TOML configuration file.
        #[arg(long, short, env = "TERN_CONFIG")]
        config: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (dev, file, check, init) = match &cli.command {
        Command::Serve {
            dev,
            config,
            cluster_init,
            ..
        } => (*dev, config.clone(), false, *cluster_init),
        Command::CheckConfig { dev, config } => (*dev, config.clone(), true, false),
    };
    #[cfg(feature = "postgres")]
    let throwaway = match &cli.command {
        Command::Serve {
            dev_postgres: true, ..
        } => match tern_store::postgres::throwaway::TempPostgres::start() {
            Ok(pg) => {
                println!("throwaway postgres at {} (deleted on exit)", pg.url());
                Some(pg)
            }
            Err(e) => {
                eprintln!("tern: cannot start a throwaway PostgreSQL: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let loaded = config::Config::read(file.as_deref(), dev).and_then(|mut raw| {
        #[cfg(feature = "postgres")]
        if let Some(pg) = &throwaway {
            raw.store.backend = "postgres".into();
            raw.store.postgres_url = Some(pg.url());
        }
        let mut config = config::Config::validate(raw.clone(), dev)?;
        if init {
            match config.cluster.raft.as_mut() {
                Some(raft) => raft.init = true,
                None => anyhow::bail!(
                    "--cluster-init: needs listeners.cluster (the port this node's cluster traffic uses)"
                ),
            }
        }
        Ok((raw, config))
    });
    let (raw, config) = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tern: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    if check {
        return print_config(&raw);
    }
    logging::init(config.log_format, &config.log_level);
    alloc::tune();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tern: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(serve::run(config));
    // Blocking work still running (a password check, a large parse) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "tern stopped on an error");
            eprintln!("tern: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `check-config`: the configuration as TOML, secrets redacted. A closed pipe (`| head`) ends
/// the output quietly.
fn print_config(raw: &config::raw::RawConfig) -> std::process::ExitCode {
    use std::io::Write;
    match config::show::to_toml(raw) {
        Ok(text) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tern: cannot print the configuration: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `ternctl`, the Tern admin CLI: noun-verb subcommands over the node's admin HTTP API
//! (`TERN_ADMIN_URL`, `TERN_ADMIN_TOKEN`), plus offline recovery on the data directory.

mod archive;
mod client;
mod cmd;
mod human;
mod maildir;
mod mbox;
mod probe;
mod table;

use clap::{Parser, Subcommand};

use crate::cmd::{
    account::AccountCmd, alias::AliasCmd, catchall::CatchAllCmd, dkim::DkimCmd, domain::DomainCmd,
    forward::ForwardCmd, queue::QueueCmd, recover::RecoverCmd,
};

#[derive(Parser)]
#[command(name = "ternctl", version, about = "Administer a Tern mail server")]
struct Cli {
    /// Admin API address.
    #[arg(
        long,
        global = true,
        env = "TERN_ADMIN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Admin token.
    #[arg(long, global = true, env = "TERN_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mail domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Forwards of accounts.
    #[command(subcommand)]
    Forward(ForwardCmd),
    /// Catch-all addresses of domains.
    #[command(subcommand, name = "catchall")]
    CatchAll(CatchAllCmd),
    /// DKIM signing keys of local domains.
    #[command(subcommand)]
    Dkim(DkimCmd),
    /// The outbound queue: list, summary, show, retry, hold, release, delete, bounce, inject,
    /// connections.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// POP3 maildrop locks.
    #[command(subcommand)]
    Pop3(cmd::pop3::Pop3Cmd),
    /// Client sessions on every node: list, kick.
    #[command(subcommand)]
    Sessions(cmd::sessions::SessionsCmd),
    /// The cluster: status, certificates.
    #[command(subcommand)]
    Cluster(cmd::cluster::ClusterCmd),
    /// Check DNS, the certificate, disk, store, queue and cluster; say what is wrong and how to
    /// fix it (exits non-zero on errors).
    Doctor(cmd::doctor::DoctorCmd),
    /// The conditions postmaster notices were mailed about (active ones first).
    Notices,
    /// An account's own spam lists: list, allow, block, remove.
    #[command(subcommand)]
    Spam(cmd::spam::SpamCmd),
    /// DMARC aggregate reports receivers sent about our domains.
    #[command(subcommand)]
    Dmarc(cmd::dmarc::DmarcCmd),
    /// Login protection: the bans in force, lifting one.
    #[command(subcommand)]
    Security(cmd::security::SecurityCmd),
    /// Where a message went: acceptance, mailboxes, queue, each delivery attempt, bounce.
    Trace(cmd::trace::TraceCmd),
    /// The node's log filter and per-session protocol trace.
    #[command(subcommand)]
    Log(cmd::log::LogCmd),
    /// Copy a running node's store to a directory (consistent, resumable, checksummed).
    Backup(cmd::backup::BackupCmd),
    /// Rebuild a stopped node's store from a backup directory.
    Restore(cmd::restore::RestoreCmd),
    /// Offline recovery on the node's data directory (node stopped).
    #[command(subcommand)]
    Recover(RecoverCmd),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let c = client::Client::new(&cli.url, cli.token.clone());
    let result = match cli.command {
        Command::Domain(cmd) => cmd::domain::run(&c, cmd, cli.json),
        Command::Account(cmd) => cmd::account::run(&c, cmd, cli.json),
        Command::Alias(cmd) => cmd::alias::run(&c, cmd, cli.json),
        Command::Forward(cmd) => cmd::forward::run(&c, cmd, cli.json),
        Command::CatchAll(cmd) => cmd::catchall::run(&c, cmd, cli.json),
        Command::Dkim(cmd) => cmd::dkim::run(&c, cmd, cli.json),
        Command::Queue(cmd) => cmd::queue::run(&c, cmd, cli.json),
        Command::Pop3(cmd) => cmd::pop3::run(&c, cmd, cli.json),
        Command::Sessions(cmd) => cmd::sessions::run(&c, cmd, cli.json),
        Command::Cluster(cmd) => cmd::cluster::run(&c, cmd, cli.json),
        Command::Doctor(cmd) => cmd::doctor::run(&c, cmd, cli.json),
        Command::Notices => cmd::notices::run(&c, cli.json),
        Command::Dmarc(cmd) => cmd::dmarc::run(&c, cmd, cli.json),
        Command::Security(cmd) => cmd::security::run(&c, cmd, cli.json),
        Command::Spam(cmd) => cmd::spam::run(&c, cmd, cli.json),
        Command::Trace(cmd) => cmd::trace::run(&c, cmd, cli.json),
        Command::Log(cmd) => cmd::log::run(&c, cmd, cli.json),
        Command::Backup(cmd) => cmd::backup::run(&c, cmd, cli.json),
        Command::Restore(cmd) => cmd::restore::run(cmd, cli.json),
        Command::Recover(cmd) => cmd::recover::run(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ternctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

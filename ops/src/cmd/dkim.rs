//! `ternctl dkim set|show|remove`: DKIM signing keys of local domains, and the DNS record to
//! publish for each.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

/// DKIM commands.
#[derive(Subcommand)]
pub enum DkimCmd {
    /// Generate an Ed25519 key, or import a PEM key (RSA from `openssl genpkey -algorithm RSA
    /// -pkeyopt rsa_keygen_bits:2048`, or Ed25519), and print the DNS record to publish.
    Set {
        domain: String,
        /// The selector (`s=`).
        #[arg(long)]
        selector: String,
        /// PEM file with the private key.
        #[arg(long)]
        key: Option<std::path::PathBuf>,
    },
    /// Show the key's selector, algorithm and DNS record.
    Show { domain: String },
    /// Stop signing for a domain.
    Remove { domain: String },
}

const COLUMNS: [&str; 4] = ["domain", "algorithm", "dns_name", "dns_txt"];

/// Runs a DKIM command.
pub fn run(c: &Client, cmd: DkimCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        DkimCmd::Set {
            domain,
            selector,
            key,
        } => {
            let private_key = match key {
                Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| {
                    anyhow::anyhow!("cannot read the key file {}: {e}", p.display())
                })?),
                None => None,
            };
            let r = c.put(
                &format!("/domains/{}/dkim", segment(&domain)),
                json!({ "selector": selector, "private_key": private_key }),
            )?;
            table::print(&r["dkim"], &COLUMNS, json);
        }
        DkimCmd::Show { domain } => {
            let r = c.get(&format!("/domains/{}/dkim", segment(&domain)))?;
            table::print(&r["dkim"], &COLUMNS, json);
        }
        DkimCmd::Remove { domain } => {
            c.delete(&format!("/domains/{}/dkim", segment(&domain)))?;
            table::done(&format!("DKIM signing for {domain} stopped"), json);
        }
    }
    Ok(())
}

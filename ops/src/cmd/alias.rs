//! `ternctl alias set|list|remove`.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

/// Alias commands.
#[derive(Subcommand)]
pub enum AliasCmd {
    /// Create or replace an alias delivering to one or more targets.
    Set {
        address: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List aliases, optionally of one domain.
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    /// Remove an alias.
    Remove { address: String },
}

/// Runs an alias command.
pub fn run(c: &Client, cmd: AliasCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        AliasCmd::Set { address, targets } => {
            let a = c.put(
                &format!("/aliases/{}", segment(&address)),
                json!({ "targets": targets }),
            )?;
            table::print(&a, &["address", "targets"], json);
        }
        AliasCmd::List { domain } => {
            let path = match domain {
                Some(d) => format!("/aliases?domain={}", segment(&d)),
                None => "/aliases".to_string(),
            };
            table::print(&c.get(&path)?, &["address", "targets"], json);
        }
        AliasCmd::Remove { address } => {
            c.delete(&format!("/aliases/{}", segment(&address)))?;
            table::done(&format!("alias {address} removed"), json);
        }
    }
    Ok(())
}

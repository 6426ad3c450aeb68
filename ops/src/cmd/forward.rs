//! `ternctl forward set|show|remove`.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

/// Forward commands.
#[derive(Subcommand)]
pub enum ForwardCmd {
    /// Forward an account's mail.
    Set {
        address: String,
        #[arg(required = true)]
        targets: Vec<String>,
        /// Keep a copy in the account's INBOX too.
        #[arg(long)]
        keep_copy: bool,
    },
    /// Show an account's forward.
    Show { address: String },
    /// Stop forwarding.
    Remove { address: String },
}

/// Runs a forward command.
pub fn run(c: &Client, cmd: ForwardCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ForwardCmd::Set {
            address,
            targets,
            keep_copy,
        } => {
            let f = c.put(
                &format!("/accounts/{}/forward", segment(&address)),
                json!({ "targets": targets, "keep_copy": keep_copy }),
            )?;
            table::print(&f["forward"], &["targets", "keep_copy"], json);
        }
        ForwardCmd::Show { address } => {
            let f = c.get(&format!("/accounts/{}/forward", segment(&address)))?;
            table::print(&f["forward"], &["targets", "keep_copy"], json);
        }
        ForwardCmd::Remove { address } => {
            c.delete(&format!("/accounts/{}/forward", segment(&address)))?;
            table::done(&format!("forward of {address} removed"), json);
        }
    }
    Ok(())
}

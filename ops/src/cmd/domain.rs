//! `ternctl domain add|list|remove`.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

/// Domain commands.
#[derive(Subcommand)]
pub enum DomainCmd {
    /// Accept mail for a domain.
    Add { name: String },
    /// List domains.
    List,
    /// Remove a domain without accounts or aliases.
    Remove { name: String },
}

/// Runs a domain command.
pub fn run(c: &Client, cmd: DomainCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        DomainCmd::Add { name } => {
            let d = c.post("/domains", json!({ "name": name }))?;
            table::done(
                &format!("domain {} added", d["name"].as_str().unwrap_or(&name)),
                json,
            );
        }
        DomainCmd::List => table::print(&c.get("/domains")?, &["name", "created"], json),
        DomainCmd::Remove { name } => {
            c.delete(&format!("/domains/{}", segment(&name)))?;
            table::done(&format!("domain {name} removed"), json);
        }
    }
    Ok(())
}

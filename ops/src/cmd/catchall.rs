//! `ternctl catchall set|show|remove`.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

/// Catch-all commands.
#[derive(Subcommand)]
pub enum CatchAllCmd {
    /// Deliver mail for unknown addresses of a domain to `target`.
    Set { domain: String, target: String },
    /// Show a domain's catch-all.
    Show { domain: String },
    /// Refuse unknown addresses again.
    Remove { domain: String },
}

/// Runs a catch-all command.
pub fn run(c: &Client, cmd: CatchAllCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        CatchAllCmd::Set { domain, target } => {
            let v = c.put(
                &format!("/domains/{}/catch-all", segment(&domain)),
                json!({ "target": target }),
            )?;
            table::print(&v, &["catch_all"], json);
        }
        CatchAllCmd::Show { domain } => table::print(
            &c.get(&format!("/domains/{}/catch-all", segment(&domain)))?,
            &["catch_all"],
            json,
        ),
        CatchAllCmd::Remove { domain } => {
            c.delete(&format!("/domains/{}/catch-all", segment(&domain)))?;
            table::done(&format!("catch-all of {domain} removed"), json);
        }
    }
    Ok(())
}

//! `ternctl spam list|allow|block|remove ADDRESS [ENTRY]`: an account's own spam lists —
//! senders (`user@domain`) or domains (`@domain`) whose mail always goes to its INBOX (allow)
//! or to Junk (block).

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

/// Spam list commands.
#[derive(Subcommand)]
pub enum SpamCmd {
    /// Show an account's allow and block lists.
    List { address: String },
    /// Always deliver mail from ENTRY (user@domain or @domain) to the account's INBOX.
    Allow { address: String, entry: String },
    /// Always file mail from ENTRY (user@domain or @domain) into the account's Junk.
    Block { address: String, entry: String },
    /// Take ENTRY off the account's lists.
    Remove { address: String, entry: String },
}

/// Runs a spam command.
pub fn run(c: &Client, cmd: SpamCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SpamCmd::List { address } => {
            let v = c.get(&format!("/accounts/{}/spam-lists", segment(&address)))?;
            if json {
                table::print(&v, &[], true);
                return Ok(());
            }
            for list in ["allow", "block"] {
                let entries: Vec<&str> = v[list]
                    .as_array()
                    .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
                    .unwrap_or_default();
                println!(
                    "{list}: {}",
                    if entries.is_empty() {
                        "(empty)".to_string()
                    } else {
                        entries.join(", ")
                    }
                );
            }
        }
        SpamCmd::Allow { address, entry } => put(c, &address, "allow", &entry, json)?,
        SpamCmd::Block { address, entry } => put(c, &address, "block", &entry, json)?,
        SpamCmd::Remove { address, entry } => {
            c.post(
                &format!("/accounts/{}/spam-lists/remove", segment(&address)),
                json!({ "entry": entry }),
            )?;
            table::done(&format!("{entry} taken off {address}'s spam lists"), json);
        }
    }
    Ok(())
}

/// Puts `entry` on `address`'s `list`.
fn put(c: &Client, address: &str, list: &str, entry: &str, json: bool) -> anyhow::Result<()> {
    let v = c.post(
        &format!("/accounts/{}/spam-lists", segment(address)),
        json!({ "list": list, "entry": entry }),
    )?;
    let entry = v["entry"].as_str().unwrap_or(entry);
    table::done(&format!("{entry} is on {address}'s {list} list"), json);
    Ok(())
}

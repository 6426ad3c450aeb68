//! `ternctl pop3 locks` and `ternctl pop3 unlock ADDRESS`: the POP3 maildrop locks held now,
//! and breaking one a vanished client left behind.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{
    client::{Client, segment},
    human, table,
};

/// POP3 commands.
#[derive(Subcommand)]
pub enum Pop3Cmd {
    /// List the maildrop locks held now.
    Locks,
    /// Break the lock on an account's maildrop (the session holding it is ended).
    Unlock { address: String },
}

/// Runs a POP3 command.
pub fn run(c: &Client, cmd: Pop3Cmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        Pop3Cmd::Locks => {
            let v = c.get("/pop3/locks")?;
            if json {
                table::print(&v, &[], true);
            } else {
                let now = human::now();
                let rows: Vec<Value> = v["locks"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| {
                        json!({
                            "account": l["account"],
                            "session": l["session"],
                            "frees": human::time(l["expires"].as_i64().unwrap_or(0), now),
                        })
                    })
                    .collect();
                table::print(&Value::Array(rows), &["account", "session", "frees"], false);
            }
        }
        Pop3Cmd::Unlock { address } => {
            let v = c.delete(&format!("/pop3/locks/{}", segment(&address)))?;
            let message = if v["was_locked"] == true {
                format!("lock on {address}'s maildrop broken")
            } else {
                format!("{address}'s maildrop was not locked")
            };
            table::done(&message, json);
        }
    }
    Ok(())
}

//! `ternctl spam list|allow|block|remove ADDRESS [ENTRY]`: an account's own spam lists —
//! senders (`user@domain`) or domains (`@domain`) whose mail always goes to its INBOX (allow)
//! or to Junk (block); `ternctl spam thresholds ADDRESS|DOMAIN [--junk N] [--reject N]`: the
//! spam score thresholds of an account or a domain (`inherit` drops one).

use clap::Subcommand;
use serde_json::{Value, json};

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
    /// Show or set the spam score thresholds of an account (user@domain) or a domain.
    Thresholds {
        /// An account's address or a domain's name.
        target: String,
        /// Score from which mail goes to Junk (a number, or `inherit`).
        #[arg(long)]
        junk: Option<String>,
        /// Score from which mail is refused (a number, or `inherit`).
        #[arg(long)]
        reject: Option<String>,
    },
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
        SpamCmd::Thresholds {
            target,
            junk,
            reject,
        } => thresholds(c, &target, junk, reject, json)?,
    }
    Ok(())
}

/// A threshold as given: `inherit` (none of its own) or a number.
fn threshold(name: &str, given: &str) -> anyhow::Result<Value> {
    if given == "inherit" {
        return Ok(Value::Null);
    }
    let v: f64 = given
        .parse()
        .map_err(|_| anyhow::anyhow!("--{name} {given:?}: expected a number or \"inherit\""))?;
    Ok(json!(v))
}

/// Shows, or changes what is given of, the thresholds of `target`.
fn thresholds(
    c: &Client,
    target: &str,
    junk: Option<String>,
    reject: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let path = if target.contains('@') {
        format!("/accounts/{}/spam-thresholds", segment(target))
    } else {
        format!("/domains/{}/spam-thresholds", segment(target))
    };
    let mut v = c.get(&path)?;
    if junk.is_some() || reject.is_some() {
        let mut set = v["set"].clone();
        if let Some(j) = junk {
            set["junk"] = threshold("junk", &j)?;
        }
        if let Some(r) = reject {
            set["reject"] = threshold("reject", &r)?;
        }
        v = c.put(&path, set)?;
    }
    if json {
        table::print(&v, &[], true);
        return Ok(());
    }
    let shown = |which: &str| {
        let own = v["set"][which].as_f64();
        let holds = v["effective"][which].as_f64().unwrap_or_default();
        match own {
            Some(n) => format!("{n:.1}"),
            None => format!("{holds:.1} (inherited)"),
        }
    };
    println!(
        "{target}: junk {}, reject {}",
        shown("junk"),
        shown("reject")
    );
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

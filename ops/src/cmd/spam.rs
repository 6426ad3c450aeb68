//! `ternctl spam list|allow|block|remove ADDRESS [ENTRY]`: an account's own spam lists —
//! senders (`user@domain`) or domains (`@domain`) whose mail always goes to its INBOX (allow)
//! or to Junk (block); `ternctl spam thresholds ADDRESS|DOMAIN [--junk N] [--reject N]`: the
//! spam score thresholds of an account or a domain (`inherit` drops one); `ternctl spam
//! rules|rule|rule-remove`: the content rules of the score set through the API (beside the
//! configuration file's).

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
    /// List the content rules of the spam score (the configuration file's and the API's).
    Rules,
    /// Add or replace a content rule: one of --header (with --pattern), --body (with
    /// --pattern), --attachment, --mime-type, --size-over.
    Rule {
        /// A one-word name, shown in X-Spam-Status.
        name: String,
        /// A header field whose value --pattern matches.
        #[arg(long, default_value = "")]
        header: String,
        /// The text of the body parts, which --pattern matches.
        #[arg(long)]
        body: bool,
        /// Attachment file-name extensions, comma-separated.
        #[arg(long, value_delimiter = ',')]
        attachment: Vec<String>,
        /// A MIME type of any part.
        #[arg(long, default_value = "")]
        mime_type: String,
        /// A size in bytes the message is larger than.
        #[arg(long, default_value_t = 0)]
        size_over: u64,
        /// A regular expression.
        #[arg(long, default_value = "")]
        pattern: String,
        /// Its points (negative: a sign of wanted mail).
        #[arg(long, allow_hyphen_values = true)]
        points: f64,
    },
    /// Remove a content rule set through the API.
    RuleRemove { name: String },
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
        SpamCmd::Rules => {
            let v = c.get("/spam/rules")?;
            if json {
                table::print(&v["rules"], &[], true);
                return Ok(());
            }
            let rows: Vec<Value> = v["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|r| json!({ "name": r["name"], "source": r["source"], "matches": matches(&r), "points": r["points"] }))
                .collect();
            table::print(
                &Value::Array(rows),
                &["name", "source", "matches", "points"],
                false,
            );
        }
        SpamCmd::Rule {
            name,
            header,
            body,
            attachment,
            mime_type,
            size_over,
            pattern,
            points,
        } => {
            let rule = json!({
                "header": header, "body": body, "attachment": attachment,
                "mime_type": mime_type, "size_over": size_over, "pattern": pattern,
                "points": points,
            });
            c.put(&format!("/spam/rules/{}", segment(&name)), rule)?;
            table::done(&format!("spam rule {name} set ({points} points)"), json);
        }
        SpamCmd::RuleRemove { name } => {
            c.delete(&format!("/spam/rules/{}", segment(&name)))?;
            table::done(&format!("spam rule {name} removed"), json);
        }
    }
    Ok(())
}

/// What a rule set through the API matches, in a few words (the configuration file's are
/// described there).
fn matches(r: &Value) -> String {
    let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
    if !text("header").is_empty() {
        format!("header {} ~ {}", text("header"), text("pattern"))
    } else if r["body"].as_bool() == Some(true) {
        format!("body ~ {}", text("pattern"))
    } else if let Some(exts) = r["attachment"].as_array().filter(|a| !a.is_empty()) {
        let exts: Vec<&str> = exts.iter().filter_map(|e| e.as_str()).collect();
        format!("attachment .{}", exts.join(" ."))
    } else if !text("mime_type").is_empty() {
        format!("part of type {}", text("mime_type"))
    } else if let Some(n) = r["size_over"].as_u64().filter(|n| *n > 0) {
        format!("larger than {n} bytes")
    } else {
        "(see the configuration file)".into()
    }
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

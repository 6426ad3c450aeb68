//! `ternctl account add|list|show|remove|password|permissions|quota`.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    human, table,
};

const COLUMNS: &[&str] = &[
    "id",
    "address",
    "display_name",
    "quota_bytes",
    "used_bytes",
    "used_messages",
    "may_create_mailboxes",
    "may_send_as_any",
];

/// One account, a field per line.
fn show(a: &serde_json::Value) {
    let used_bytes = a["used_bytes"].as_i64().unwrap_or(0).max(0) as u64;
    let used_messages = a["used_messages"].as_i64().unwrap_or(0);
    let quota = match (a["quota_bytes"].as_u64(), a["quota_messages"].as_u64()) {
        (None, None) => format!(
            "{} in {used_messages} messages, no quota",
            human::bytes(used_bytes)
        ),
        (b, m) => format!(
            "{} of {} ({}), {used_messages} of {} messages",
            human::bytes(used_bytes),
            b.map_or("unlimited".into(), human::bytes),
            b.filter(|b| *b > 0).map_or("-".into(), |b| format!(
                "{:.0}%",
                used_bytes as f64 * 100.0 / b as f64
            )),
            m.map_or("unlimited".into(), |m| m.to_string()),
        ),
    };
    let mut permissions = Vec::new();
    if a["may_create_mailboxes"] == true {
        permissions.push("may create mailboxes");
    } else {
        permissions.push("may not create mailboxes");
    }
    if a["may_send_as_any"] == true {
        permissions.push("may send as any address");
    } else {
        permissions.push("sends as its own addresses only");
    }
    let forward = match a["forward"].as_object() {
        Some(f) => {
            let targets: Vec<&str> = f["targets"]
                .as_array()
                .map(|t| t.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            format!(
                "{} ({})",
                targets.join(", "),
                if f["keep_copy"] == true {
                    "a copy is kept"
                } else {
                    "no copy kept"
                }
            )
        }
        None => "none".into(),
    };
    let aliases: Vec<&str> = a["aliases"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    for (label, value) in [
        ("Address", a["address"].as_str().unwrap_or("").to_string()),
        ("Name", a["display_name"].as_str().unwrap_or("").to_string()),
        ("Id", a["id"].to_string()),
        ("Usage", quota),
        ("Permissions", permissions.join(", ")),
        ("Forward", forward),
        (
            "Aliases to it",
            if aliases.is_empty() {
                "none".into()
            } else {
                aliases.join(", ")
            },
        ),
    ] {
        println!("{label:<14} {value}");
    }
}

/// Account commands.
#[derive(Subcommand)]
pub enum AccountCmd {
    /// Create an account (a password is generated and printed when none is given).
    Add {
        address: String,
        #[arg(long, env = "TERN_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// Quota in bytes.
        #[arg(long)]
        quota_bytes: Option<u64>,
        /// Quota in messages.
        #[arg(long)]
        quota_messages: Option<u64>,
    },
    /// List accounts.
    List,
    /// Show one account.
    Show { address: String },
    /// Delete an account and all its mail.
    Remove { address: String },
    /// Set a new password.
    Password {
        address: String,
        #[arg(long, env = "TERN_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set what the account may do; settings left out stay as they are.
    Permissions {
        address: String,
        /// Whether IMAP clients may create mailboxes (`true`, the default, or `false`).
        #[arg(long, action = clap::ArgAction::Set)]
        create_mailboxes: Option<bool>,
        /// Whether it may send as any address, not only its own and its aliases (`true` or
        /// `false`, the default).
        #[arg(long, action = clap::ArgAction::Set)]
        send_as_any: Option<bool>,
    },
    /// Write every mailbox to a Maildir++ directory (Dovecot's layout; flags, keywords and
    /// dates kept).
    Export {
        address: String,
        #[arg(long)]
        maildir: std::path::PathBuf,
    },
    /// Append mail from a Maildir++ directory (mailbox by folder) or an mbox file.
    Import {
        address: String,
        #[arg(long, conflicts_with = "mbox", required_unless_present = "mbox")]
        maildir: Option<std::path::PathBuf>,
        #[arg(long)]
        mbox: Option<std::path::PathBuf>,
        /// The mailbox an mbox goes into (created if missing).
        #[arg(long, default_value = "INBOX", requires = "mbox")]
        mailbox: String,
    },
    /// Set the quota (omit a limit to make it unlimited).
    Quota {
        address: String,
        #[arg(long)]
        bytes: Option<u64>,
        #[arg(long)]
        messages: Option<u64>,
    },
}

/// A readable random password.
pub fn generate_password() -> String {
    let token = tern_store::model::token::generate();
    token.expose()[5..25].to_string()
}

/// Runs an account command.
pub fn run(c: &Client, cmd: AccountCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        AccountCmd::Add {
            address,
            password,
            name,
            quota_bytes,
            quota_messages,
        } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(generate_password);
            let a = c.post(
                "/accounts",
                json!({ "address": address, "password": password, "display_name": name,
                        "quota_bytes": quota_bytes, "quota_messages": quota_messages }),
            )?;
            if json {
                table::print(&a, COLUMNS, true);
            } else {
                println!(
                    "account {} added (id {})",
                    a["address"].as_str().unwrap_or(&address),
                    a["id"]
                );
                if generated {
                    println!("password: {password}");
                }
            }
        }
        AccountCmd::List => table::print(&c.get("/accounts")?, COLUMNS, json),
        AccountCmd::Show { address } => {
            let a = c.get(&format!("/accounts/{}", segment(&address)))?;
            if json {
                table::print(&a, &[], true);
            } else {
                show(&a);
            }
        }
        AccountCmd::Export { address, maildir } => {
            super::transfer::export(c, &address, &maildir, json)?;
        }
        AccountCmd::Import {
            address,
            maildir,
            mbox,
            mailbox,
        } => match (maildir, mbox) {
            (Some(dir), _) => super::transfer::import_maildir(c, &address, &dir, json)?,
            (None, Some(file)) => super::transfer::import_mbox(c, &address, &file, &mailbox, json)?,
            (None, None) => anyhow::bail!("say where from: --maildir DIR or --mbox FILE"),
        },
        AccountCmd::Remove { address } => {
            c.delete(&format!("/accounts/{}", segment(&address)))?;
            table::done(&format!("account {address} removed with its mail"), json);
        }
        AccountCmd::Password { address, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(generate_password);
            c.put(
                &format!("/accounts/{}/password", segment(&address)),
                json!({ "password": password }),
            )?;
            table::done(&format!("password of {address} changed"), json);
            if generated && !json {
                println!("password: {password}");
            }
        }
        AccountCmd::Permissions {
            address,
            create_mailboxes,
            send_as_any,
        } => {
            if create_mailboxes.is_none() && send_as_any.is_none() {
                anyhow::bail!("say what to change: --create-mailboxes and/or --send-as-any");
            }
            let a = c.put(
                &format!("/accounts/{}/permissions", segment(&address)),
                json!({ "may_create_mailboxes": create_mailboxes, "may_send_as_any": send_as_any }),
            )?;
            table::print(&a, COLUMNS, json);
        }
        AccountCmd::Quota {
            address,
            bytes,
            messages,
        } => {
            let a = c.put(
                &format!("/accounts/{}/quota", segment(&address)),
                json!({ "bytes": bytes, "messages": messages }),
            )?;
            table::print(&a, COLUMNS, json);
        }
    }
    Ok(())
}

//! `ternctl account add|list|show|remove|password|permissions|quota`.

use clap::Subcommand;
use serde_json::json;

use crate::{
    client::{Client, segment},
    table,
};

const COLUMNS: &[&str] = &[
    "id",
    "address",
    "display_name",
    "quota_bytes",
    "used_bytes",
    "used_messages",
    "may_create_mailboxes",
];

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
    /// Set what the account may do (IMAP CREATE needs `--create-mailboxes true`, the default).
    Permissions {
        address: String,
        /// Whether IMAP clients may create mailboxes (`true` or `false`).
        #[arg(long, action = clap::ArgAction::Set)]
        create_mailboxes: bool,
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
        AccountCmd::Show { address } => table::print(
            &c.get(&format!("/accounts/{}", segment(&address)))?,
            COLUMNS,
            json,
        ),
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
        } => {
            let a = c.put(
                &format!("/accounts/{}/permissions", segment(&address)),
                json!({ "may_create_mailboxes": create_mailboxes }),
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

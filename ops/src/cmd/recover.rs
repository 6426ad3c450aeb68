//! `ternctl recover admin-token|password`: offline recovery on the node, straight on the data
//! directory, for when the admin token is lost. The node must be stopped (the embedded store
//! is opened by one process at a time).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use tern_proto::Secret;
use tern_store::{
    Db, EmbeddedStore,
    model::{AddressPolicy, Directory, token},
};

/// Recovery commands.
#[derive(Subcommand)]
pub enum RecoverCmd {
    /// Issue a new admin token (optionally revoking all others).
    AdminToken {
        /// The node's data directory (`server.data_dir`).
        #[arg(long)]
        data_dir: PathBuf,
        /// Revoke every existing token first.
        #[arg(long)]
        revoke_others: bool,
    },
    /// Reset an account's password.
    Password {
        address: String,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, env = "TERN_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Match the node's `addresses.local_part_case` if it is `insensitive`.
        #[arg(long)]
        case_insensitive: bool,
    },
}

fn open(data_dir: &std::path::Path, case_insensitive: bool) -> anyhow::Result<Directory> {
    let path = data_dir.join("store");
    if !path.is_dir() {
        anyhow::bail!(
            "{} holds no Tern store (is --data-dir the node's server.data_dir?)",
            data_dir.display()
        );
    }
    let store = EmbeddedStore::open(&path).with_context(|| {
        format!(
            "opening {} (stop the node first: the store is used by one process at a time)",
            path.display()
        )
    })?;
    Ok(Directory::new(
        Db::new(store),
        AddressPolicy {
            local_case_sensitive: !case_insensitive,
        },
    ))
}

/// Runs a recovery command.
pub fn run(cmd: RecoverCmd) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cmd {
            RecoverCmd::AdminToken {
                data_dir,
                revoke_others,
            } => {
                let dir = open(&data_dir, false)?;
                if revoke_others {
                    dir.revoke_admin_tokens().await?;
                }
                let t = token::generate();
                dir.add_admin_token(&t, "recovery").await?;
                println!("new admin token: {}", t.expose());
            }
            RecoverCmd::Password {
                address,
                data_dir,
                password,
                case_insensitive,
            } => {
                let dir = open(&data_dir, case_insensitive)?;
                let generated = password.is_none();
                let password = password.unwrap_or_else(super::account::generate_password);
                dir.set_password(&address, &Secret::new(password.clone()))
                    .await?;
                println!("password of {address} reset");
                if generated {
                    println!("password: {password}");
                }
            }
        }
        Ok(())
    })
}

//! The dev profile's fixtures: the domain `example.test`, the account `demo@example.test` (which
//! also gets the postmaster's mail) and an admin token. Their secrets come from `TERN_DEV_PASSWORD` / `TERN_DEV_ADMIN_TOKEN`, else from
//! `dev-secrets.json` in the data directory, written on first start (mode 0600), so they stay
//! the same across restarts.

use std::path::Path;

use anyhow::Context;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tern_proto::Secret;
use tern_store::model::{Directory, NewAccount, token};

/// The dev domain.
pub const DOMAIN: &str = "example.test";
/// The dev account.
pub const ACCOUNT: &str = "demo@example.test";
/// File in the data directory keeping the generated secrets.
const SECRETS_FILE: &str = "dev-secrets.json";

/// The generated secrets, as kept in the data directory.
#[derive(Serialize, Deserialize)]
struct Saved {
    password: String,
    admin_token: String,
}

fn random_password() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The saved secrets, or new ones written to the data directory.
fn saved(data_dir: &Path) -> anyhow::Result<Saved> {
    let path = data_dir.join(SECRETS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = Saved {
                password: random_password(),
                admin_token: token::generate().expose().clone(),
            };
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            crate::tls::write_private(&path, &serde_json::to_vec_pretty(&fresh)?)?;
            Ok(fresh)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn from_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Creates the dev fixtures (or brings them in line with the secrets) and prints the secrets.
pub async fn prepare(dir: &Directory, data_dir: &Path) -> anyhow::Result<()> {
    let saved = saved(data_dir)?;
    let env_password = from_env("TERN_DEV_PASSWORD");
    let password = Secret::new(env_password.clone().unwrap_or(saved.password));
    let env_token = from_env("TERN_DEV_ADMIN_TOKEN");
    let admin = Secret::new(env_token.clone().unwrap_or(saved.admin_token));
    // Nodes of a cluster started together on a new store race to create the same fixtures:
    // the loser finds them made on its next pass.
    let mut pass = 1;
    while let Err(e) = fixtures(dir, &password, &admin).await {
        if pass == 3 {
            return Err(e);
        }
        tracing::debug!(error = %e, "dev fixtures changed meanwhile; checking again");
        pass += 1;
    }
    let kept = data_dir.join(SECRETS_FILE);
    match env_password {
        Some(_) => println!("dev account: {ACCOUNT} (password from TERN_DEV_PASSWORD)"),
        None => println!(
            "dev account: {ACCOUNT} password: {} (kept in {})",
            password.expose(),
            kept.display()
        ),
    }
    match env_token {
        Some(_) => println!("admin token: from TERN_DEV_ADMIN_TOKEN"),
        None => println!("admin token: {}", admin.expose()),
    }
    Ok(())
}

/// One pass over the fixtures: creates what is missing, resets the password if it differs.
async fn fixtures(
    dir: &Directory,
    password: &Secret<String>,
    admin: &Secret<String>,
) -> anyhow::Result<()> {
    if dir.domain(DOMAIN).await?.is_none() {
        dir.add_domain(DOMAIN).await?;
    }
    if dir.account_by_address(ACCOUNT).await?.is_none() {
        dir.add_account(NewAccount {
            address: ACCOUNT.into(),
            password: password.clone(),
            display_name: "Demo User".into(),
            ..Default::default()
        })
        .await?;
    } else if dir.authenticate(ACCOUNT, password).await?.is_none() {
        dir.set_password(ACCOUNT, password).await?;
    }
    let postmaster = format!("postmaster@{DOMAIN}");
    if !dir
        .aliases(Some(DOMAIN))
        .await?
        .iter()
        .any(|a| a.address == postmaster)
    {
        dir.set_alias(&postmaster, &[ACCOUNT.to_string()]).await?;
    }
    if !dir.check_admin_token(admin.expose()).await? {
        dir.add_admin_token(admin, "dev").await?;
    }
    Ok(())
}

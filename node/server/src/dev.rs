//! The dev profile's fixtures: the domain `example.test`, the account `demo@example.test` and an
//! admin token, with secrets from `TERN_DEV_PASSWORD` / `TERN_DEV_ADMIN_TOKEN` or generated and
//! printed once.

use rand::Rng;
use tern_proto::Secret;
use tern_store::model::{Directory, NewAccount, token};

/// The dev domain.
pub const DOMAIN: &str = "example.test";
/// The dev account.
pub const ACCOUNT: &str = "demo@example.test";

fn random_password() -> Secret<String> {
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    Secret::new(
        (0..20)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect(),
    )
}

/// Creates (or refreshes) the dev fixtures and prints their secrets.
pub async fn prepare(dir: &Directory) -> anyhow::Result<()> {
    if dir.domain(DOMAIN).await?.is_none() {
        dir.add_domain(DOMAIN).await?;
    }
    let (password, from_env) = match std::env::var("TERN_DEV_PASSWORD") {
        Ok(p) if !p.is_empty() => (Secret::new(p), true),
        _ => (random_password(), false),
    };
    if dir.account_by_address(ACCOUNT).await?.is_some() {
        dir.set_password(ACCOUNT, &password).await?;
    } else {
        dir.add_account(NewAccount {
            address: ACCOUNT.into(),
            password: password.clone(),
            display_name: "Demo User".into(),
            ..Default::default()
        })
        .await?;
    }
    let (admin, token_from_env) = match std::env::var("TERN_DEV_ADMIN_TOKEN") {
        Ok(t) if !t.is_empty() => (Secret::new(t), true),
        _ => (token::generate(), false),
    };
    dir.add_admin_token(&admin, "dev").await?;
    if from_env {
        println!("dev account: {ACCOUNT} (password from TERN_DEV_PASSWORD)");
    } else {
        println!("dev account: {ACCOUNT} password: {}", password.expose());
    }
    if token_from_env {
        println!("admin token: from TERN_DEV_ADMIN_TOKEN");
    } else {
        println!("admin token: {}", admin.expose());
    }
    Ok(())
}

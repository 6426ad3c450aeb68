//! Admin API tokens: random secrets of which only the BLAKE3 hash is stored, so a copy of the
//! store does not hand out admin access.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use tern_proto::Secret;

use super::{Directory, ModelResult, codec, now};
use crate::{RangeOptions, keys::directory as k};

/// What is stored for a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Why it was issued (`dev`, `bootstrap`, `recovery`, ...).
    pub label: String,
    /// Unix seconds of issue.
    pub created: i64,
}

fn hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// A new random token (`tern_` and 64 hex digits).
pub fn generate() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("tern_{}", hex::encode(bytes)))
}

impl Directory {
    /// Stores a token so the admin API accepts it.
    pub async fn add_admin_token(&self, token: &Secret<String>, label: &str) -> ModelResult<()> {
        let key = k::admin_token(&hash(token.expose()));
        let info = TokenInfo {
            label: label.to_string(),
            created: now(),
        };
        let (key, info) = (&key, &info);
        self.db
            .transact(|tx| async move { Ok(codec::write(&tx, key, info)?) })
            .await
    }

    /// Whether `token` is a valid admin token.
    pub async fn check_admin_token(&self, token: &str) -> ModelResult<bool> {
        let key = k::admin_token(&hash(token));
        let key = &key;
        self.db
            .transact(|tx| async move { Ok(tx.get_snapshot(key).await?.is_some()) })
            .await
    }

    /// How many admin tokens exist.
    pub async fn admin_token_count(&self) -> ModelResult<usize> {
        self.db
            .transact(|tx| async move {
                Ok(tx
                    .get_prefix(&k::admin_tokens(), RangeOptions::all())
                    .await?
                    .len())
            })
            .await
    }

    /// Revokes every admin token (used by offline recovery before issuing a new one).
    pub async fn revoke_admin_tokens(&self) -> ModelResult<()> {
        self.db
            .transact(|tx| async move { Ok(tx.clear_prefix(&k::admin_tokens())?) })
            .await
    }
}

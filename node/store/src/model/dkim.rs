//! DKIM signing keys, one per local domain: selector, algorithm and the private key (PEM). The
//! key is stored as is (signing needs it); whoever can read the store can sign for the domain,
//! as with the certificate's private key on disk.

use serde::{Deserialize, Serialize};

use super::{Directory, ModelError, ModelResult, codec, now};
use crate::keys::directory as k;

/// DKIM algorithms Tern signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DkimAlgorithm {
    /// rsa-sha256 (RFC 6376), 2048-bit keys and up.
    RsaSha256,
    /// ed25519-sha256 (RFC 8463).
    Ed25519Sha256,
}

/// A domain's signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimKey {
    /// The selector (`s=`; the DNS record lives at `<selector>._domainkey.<domain>`).
    pub selector: String,
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// The private key in PEM (PKCS#8, or PKCS#1 for RSA).
    pub private_pem: String,
    /// The public key as published in DNS (`p=`, before base64).
    pub public: Vec<u8>,
    /// Unix seconds when it was set.
    pub created: i64,
}

impl Directory {
    /// Sets the signing key of a local domain.
    pub async fn set_dkim(&self, domain: &str, key: DkimKey) -> ModelResult<()> {
        let domain = domain.to_ascii_lowercase();
        if self.domain(&domain).await?.is_none() {
            return Err(ModelError::NotFound(format!("domain {domain}")));
        }
        let key = DkimKey {
            created: now(),
            ..key
        };
        let (d, key) = (&domain, &key);
        self.db
            .transact(|tx| async move {
                codec::write(&tx, &k::dkim(d), key)?;
                Ok::<_, ModelError>(())
            })
            .await
    }

    /// The signing key of a domain, if it has one.
    pub async fn dkim(&self, domain: &str) -> ModelResult<Option<DkimKey>> {
        let d = &domain.to_ascii_lowercase();
        Ok(self
            .db
            .transact(|tx| async move { get(&tx, d).await })
            .await?)
    }

    /// Stops signing for a domain.
    pub async fn remove_dkim(&self, domain: &str) -> ModelResult<()> {
        let d = &domain.to_ascii_lowercase();
        let existed = self
            .db
            .transact(|tx| async move {
                let had = tx.get(&k::dkim(d)).await?.is_some();
                tx.clear(&k::dkim(d))?;
                Ok::<_, ModelError>(had)
            })
            .await?;
        if !existed {
            return Err(ModelError::NotFound(format!("DKIM key of {d}")));
        }
        Ok(())
    }
}

/// The signing key of `domain` (lower case) inside a transaction.
pub async fn get(tx: &crate::Tx, domain: &str) -> Result<Option<DkimKey>, crate::StoreError> {
    codec::read(tx, &k::dkim(domain)).await
}

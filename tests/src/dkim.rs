//! DKIM-signing test mail as a sending domain would (mail-auth's signer): an Ed25519 key and the
//! TXT record that publishes it, and a signature over the usual headers.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use mail_auth::{
    common::{
        crypto::{Ed25519Key, Sha256, SigningKey},
        headers::HeaderWriter,
    },
    dkim::DkimSigner,
};

/// A new Ed25519 key (PKCS#8) and its DKIM TXT record.
pub fn ed25519_key() -> (Vec<u8>, String) {
    let key = Ed25519Key::generate_pkcs8().expect("generate");
    let public = STANDARD.encode(Ed25519Key::from_pkcs8_der(&key).expect("key").public_key());
    (key, format!("v=DKIM1; k=ed25519; p={public}"))
}

/// The Ed25519 key of `pkcs8`.
pub fn ed25519(pkcs8: &[u8]) -> Ed25519Key {
    Ed25519Key::from_pkcs8_der(pkcs8).expect("ed25519 key")
}

/// `message` with a DKIM signature of `domain` by `selector` over From, To, Subject and
/// Message-ID.
pub fn sign<K: SigningKey<Hasher = Sha256>>(
    key: K,
    message: &str,
    domain: &str,
    selector: &str,
) -> String {
    let signature = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Message-ID"])
        .sign(message.as_bytes())
        .expect("sign");
    format!("{}{message}", signature.to_header())
}

//! DKIM for mail leaving from local domains, with `mail-auth`: Ed25519 keys generated here,
//! RSA or Ed25519 keys imported from PEM (ring cannot generate RSA keys, so RSA keys come from
//! `openssl genpkey`), the DNS TXT record to publish, signing a message before it is sent, and
//! ARC-sealing a message a local domain forwards.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults,
    arc::ArcSealer,
    common::{
        crypto::{Ed25519Key, RsaKey, Sha256},
        headers::HeaderWriter,
    },
    dkim::DkimSigner,
};
use rustls_pki_types::{PrivateKeyDer, pem::PemObject};
use tern_store::model::dkim::{DkimAlgorithm, DkimKey};

/// Headers signed when present (RFC 6376 §5.4.1's recommendation).
const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// DER length octets.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo, the form DKIM records publish.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    bit_string.extend(der_len(pkcs1.len() + 1));
    bit_string.push(0);
    bit_string.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_len(ALGORITHM.len() + bit_string.len()));
    out.extend_from_slice(&ALGORITHM);
    out.extend(bit_string);
    out
}

/// A new Ed25519 key.
pub fn generate_ed25519(selector: &str) -> Result<DkimKey, String> {
    let pkcs8 = Ed25519Key::generate_pkcs8().map_err(|e| e.to_string())?;
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).map_err(|e| e.to_string())?;
    Ok(DkimKey {
        selector: selector.to_string(),
        algorithm: DkimAlgorithm::Ed25519Sha256,
        private_pem: pem_encode("PRIVATE KEY", &pkcs8),
        public: key.public_key(),
        created: 0,
    })
}

enum Parsed {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

fn parse(pem: &str) -> Result<Parsed, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("the key is not a PEM private key: {e}"))?;
    if let PrivateKeyDer::Pkcs8(p) = &der
        && let Ok(k) = Ed25519Key::from_pkcs8_maybe_unchecked_der(p.secret_pkcs8_der())
    {
        return Ok(Parsed::Ed25519(k));
    }
    RsaKey::<Sha256>::from_key_der(der)
        .map(Parsed::Rsa)
        .map_err(|e| {
            format!("the key is neither an Ed25519 key nor an RSA key of 2048 to 8192 bits ({e})")
        })
}

/// Imports a PEM private key: RSA (PKCS#8 or PKCS#1, 2048 to 8192 bits, as ring accepts) or
/// Ed25519 (PKCS#8).
pub fn import(selector: &str, pem: &str) -> Result<DkimKey, String> {
    let (algorithm, public) = match parse(pem)? {
        Parsed::Rsa(k) => (DkimAlgorithm::RsaSha256, rsa_spki(&k.public_key())),
        Parsed::Ed25519(k) => (DkimAlgorithm::Ed25519Sha256, k.public_key()),
    };
    Ok(DkimKey {
        selector: selector.to_string(),
        algorithm,
        private_pem: pem.to_string(),
        public,
        created: 0,
    })
}

/// The TXT record to publish at `<selector>._domainkey.<domain>`.
pub fn dns_record(key: &DkimKey) -> String {
    let k = match key.algorithm {
        DkimAlgorithm::RsaSha256 => "rsa",
        DkimAlgorithm::Ed25519Sha256 => "ed25519",
    };
    format!("v=DKIM1; k={k}; p={}", STANDARD.encode(&key.public))
}

/// The ARC set (`ARC-Seal`, `ARC-Message-Signature`, `ARC-Authentication-Results`, with CRLFs)
/// `domain` adds to `message` as it passes it on: `results` are what this server found, `arc`
/// the chain the message came with (which must be sealable: none, or a passing one).
pub fn arc_seal(
    key: &DkimKey,
    domain: &str,
    message: &AuthenticatedMessage<'_>,
    results: &AuthenticationResults<'_>,
    arc: &ArcOutput<'_>,
) -> Result<String, String> {
    let mut headers: Vec<&str> = SIGNED_HEADERS.to_vec();
    headers.push("DKIM-Signature");
    let set = match parse(&key.private_pem)? {
        Parsed::Rsa(k) => ArcSealer::from_key(k)
            .domain(domain)
            .selector(&key.selector)
            .headers(headers)
            .seal(message, results, arc)
            .map(|s| s.to_header()),
        Parsed::Ed25519(k) => ArcSealer::from_key(k)
            .domain(domain)
            .selector(&key.selector)
            .headers(headers)
            .seal(message, results, arc)
            .map(|s| s.to_header()),
    };
    set.map_err(|e| e.to_string())
}

/// The `DKIM-Signature:` header line (with CRLF) for `message` signed as `domain`.
pub fn sign(key: &DkimKey, domain: &str, message: &[u8]) -> Result<String, String> {
    let signature = match parse(&key.private_pem)? {
        Parsed::Rsa(k) => DkimSigner::from_key(k)
            .domain(domain)
            .selector(&key.selector)
            .headers(SIGNED_HEADERS)
            .sign(message),
        Parsed::Ed25519(k) => DkimSigner::from_key(k)
            .domain(domain)
            .selector(&key.selector)
            .headers(SIGNED_HEADERS)
            .sign(message),
    }
    .map_err(|e| e.to_string())?;
    Ok(signature.to_header())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_keys_round_trip_and_sign() {
        let key = generate_ed25519("s1").expect("generate");
        let again = import("s1", &key.private_pem).expect("import");
        assert_eq!(again.public, key.public);
        assert_eq!(again.algorithm, DkimAlgorithm::Ed25519Sha256);
        assert!(dns_record(&key).starts_with("v=DKIM1; k=ed25519; p="));
        let header = sign(
            &key,
            "example.test",
            b"From: a@example.test\r\nSubject: x\r\n\r\nhi\r\n",
        )
        .expect("sign");
        assert!(header.starts_with("DKIM-Signature:"), "{header}");
        assert!(
            header.contains("d=example.test") && header.contains("s=s1"),
            "{header}"
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(import("s", "not a key").is_err());
    }

    #[test]
    fn spki_wrapping_has_the_rsa_prefix() {
        let spki = rsa_spki(&[0x30, 0x03, 0x02, 0x01, 0x05]);
        assert_eq!(&spki[..2], &[0x30, 0x17]);
        assert_eq!(&spki[17..20], &[0x03, 0x06, 0x00]);
    }
}

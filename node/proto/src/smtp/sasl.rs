//! SASL PLAIN (RFC 4616) and LOGIN decoding for SMTP AUTH.

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::Secret;

/// Decoded credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Authorization identity, when different from the login.
    pub authzid: Option<String>,
    /// Login name.
    pub login: String,
    /// Password.
    pub password: Secret<String>,
}

/// Why a SASL message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client sent `*`.
    #[error("authentication cancelled")]
    Cancelled,
    /// Not base64, not UTF-8, or not the mechanism's shape.
    #[error("malformed SASL response")]
    Malformed,
}

/// Decodes one base64 client response (`*` cancels).
pub fn decode(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim();
    if line == "*" {
        return Err(SaslError::Cancelled);
    }
    if line == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::Malformed)
}

/// Encodes a server challenge.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Parses a PLAIN message: `authzid NUL login NUL password`.
pub fn plain(message: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = message.split(|b| *b == 0);
    let (Some(authz), Some(login), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed);
    let login = text(login)?;
    if login.is_empty() {
        return Err(SaslError::Malformed);
    }
    let authz = text(authz)?;
    Ok(Credentials {
        authzid: (!authz.is_empty() && authz != login).then_some(authz),
        login,
        password: Secret::new(text(password)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip() {
        let c = plain(&decode(&encode(b"\0demo@example.test\0pw")).expect("b64")).expect("plain");
        assert_eq!(c.login, "demo@example.test");
        assert_eq!(c.password.expose(), "pw");
        assert_eq!(c.authzid, None);
        assert_eq!(decode("*"), Err(SaslError::Cancelled));
        assert_eq!(decode("!!"), Err(SaslError::Malformed));
        assert_eq!(plain(b"only-one-part"), Err(SaslError::Malformed));
    }
}

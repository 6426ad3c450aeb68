//! Mail addresses (RFC 5321 `Mailbox`, with RFC 6531 UTF-8): parsing, validation and the
//! normalised form used to look addresses up.
//!
//! Surrounding whitespace is trimmed (a recipient typed with a trailing space is the same
//! recipient, never a silently different one); anything else that is not a valid address is
//! refused with a reason a person can act on.

use thiserror::Error;

/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL: usize = 64;
/// Longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest path including the `@` (RFC 5321 §4.5.3.1.3 less the brackets).
pub const MAX_ADDRESS: usize = 254;

/// Why a string is not a usable address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Nothing but whitespace.
    #[error("address is empty")]
    Empty,
    /// No `@`.
    #[error("address has no @domain part")]
    MissingAt,
    /// Nothing before the `@`.
    #[error("address has an empty local part")]
    EmptyLocal,
    /// Nothing after the `@`.
    #[error("address has an empty domain")]
    EmptyDomain,
    /// A source route (`@a,@b:user@c`), obsolete and refused (RFC 5321 §4.1.2 / Appendix C).
    #[error("source routes are not accepted")]
    SourceRoute,
    /// Over one of the RFC 5321 length limits.
    #[error("address too long ({0})")]
    TooLong(&'static str),
    /// A local part that is neither a dot-atom nor a quoted string.
    #[error("invalid local part: {0}")]
    InvalidLocal(&'static str),
    /// A domain that is not a host name or address literal.
    #[error("invalid domain: {0}")]
    InvalidDomain(&'static str),
}

/// A syntactically valid address. The domain is lower-cased; the local part is kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

impl Address {
    /// Parses `input`, trimming surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.starts_with('@') {
            return Err(AddressError::SourceRoute);
        }
        if s.len() > MAX_ADDRESS {
            return Err(AddressError::TooLong("more than 254 octets"));
        }
        let at = split_at(s)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.is_empty() {
            return Err(AddressError::EmptyLocal);
        }
        if domain.is_empty() {
            return Err(AddressError::EmptyDomain);
        }
        if local.len() > MAX_LOCAL {
            return Err(AddressError::TooLong("local part over 64 octets"));
        }
        validate_local(local)?;
        validate_domain(domain)?;
        Ok(Self {
            local: local.to_string(),
            domain: domain.to_lowercase(),
        })
    }

    /// Parses an address as `smtp-proto` hands it over: it removes the quotes of a quoted local
    /// part, so a local part that is no longer a dot-atom (`x@y`, `a b`) is quoted again.
    pub fn from_smtp(input: &str) -> Result<Self, AddressError> {
        let s = input.trim();
        match s.rfind('@') {
            Some(at)
                if !s.starts_with('"')
                    && validate_local(&s[..at]).is_err()
                    && !s[..at].is_empty() =>
            {
                let quoted: String = s[..at]
                    .chars()
                    .flat_map(|c| {
                        if c == '"' || c == '\\' {
                            vec!['\\', c]
                        } else {
                            vec![c]
                        }
                    })
                    .collect();
                Self::parse(&format!("\"{quoted}\"{}", &s[at..]))
            }
            _ => Self::parse(s),
        }
    }

    /// The local part as given.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether the local part is a quoted string.
    pub fn is_quoted(&self) -> bool {
        self.local.starts_with('"')
    }

    /// The local part used for lookups: as given, or lower-cased when local parts are
    /// configured to be case-insensitive.
    pub fn lookup_local(&self, case_sensitive: bool) -> String {
        if case_sensitive {
            self.local.clone()
        } else {
            self.local.to_lowercase()
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Finds the `@` that separates local part and domain, skipping any inside a quoted string.
fn split_at(s: &str) -> Result<usize, AddressError> {
    if s.starts_with('"') {
        let bytes = s.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    return match bytes.get(i + 1) {
                        Some(b'@') => Ok(i + 1),
                        Some(_) => Err(AddressError::InvalidLocal("text after the closing quote")),
                        None => Err(AddressError::MissingAt),
                    };
                }
                _ => i += 1,
            }
        }
        return Err(AddressError::InvalidLocal("unterminated quoted string"));
    }
    s.rfind('@').ok_or(AddressError::MissingAt)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (c as u32) >= 0x80 && !c.is_whitespace() && !c.is_control()
}

fn validate_local(local: &str) -> Result<(), AddressError> {
    if let Some(inner) = local.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or(AddressError::InvalidLocal("unterminated quoted string"))?;
        let mut escaped = false;
        for c in inner.chars() {
            if escaped {
                if c.is_control() && c != '\t' {
                    return Err(AddressError::InvalidLocal("control character"));
                }
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' || (c.is_control() && c != '\t') {
                return Err(AddressError::InvalidLocal(
                    "unescaped quote or control character",
                ));
            }
        }
        return Ok(());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(AddressError::InvalidLocal("dots must separate words"));
    }
    if let Some(c) = local.chars().find(|c| *c != '.' && !is_atext(*c)) {
        return Err(if c.is_whitespace() {
            AddressError::InvalidLocal("whitespace inside the address")
        } else if c == '@' {
            AddressError::InvalidLocal("more than one @")
        } else {
            AddressError::InvalidLocal("character not allowed unquoted")
        });
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), AddressError> {
    if domain.len() > MAX_DOMAIN {
        return Err(AddressError::TooLong("domain over 255 octets"));
    }
    if let Some(literal) = domain.strip_prefix('[') {
        let inner = literal
            .strip_suffix(']')
            .ok_or(AddressError::InvalidDomain("unterminated address literal"))?;
        let ok = match inner.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        return if ok {
            Ok(())
        } else {
            Err(AddressError::InvalidDomain("bad address literal"))
        };
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(AddressError::InvalidDomain("empty label"));
        }
        if label.len() > 63 {
            return Err(AddressError::InvalidDomain("label over 63 octets"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AddressError::InvalidDomain(
                "label starts or ends with a hyphen",
            ));
        }
        if !label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || ((c as u32) >= 0x80 && c.is_alphanumeric())
        }) {
            return Err(AddressError::InvalidDomain(
                "character not allowed in a host name",
            ));
        }
    }
    Ok(())
}

/// Validates and lower-cases a bare domain name (for domain administration).
pub fn parse_domain(input: &str) -> Result<String, AddressError> {
    let d = input.trim();
    if d.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    if d.starts_with('[') {
        return Err(AddressError::InvalidDomain(
            "an address literal is not a mail domain",
        ));
    }
    validate_domain(d)?;
    Ok(d.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases_domain_only() {
        let a = Address::parse("  Demo.User@Example.TEST \t").expect("valid");
        assert_eq!(a.local(), "Demo.User");
        assert_eq!(a.domain(), "example.test");
        assert_eq!(a.to_string(), "Demo.User@example.test");
        assert_eq!(a.lookup_local(false), "demo.user");
    }

    #[test]
    fn quoted_local_parts_may_hold_at_signs() {
        let a = Address::parse("\"a@b\"@example.test").expect("valid");
        assert_eq!(a.local(), "\"a@b\"");
        assert!(a.is_quoted());
    }

    #[test]
    fn refusals_name_the_problem() {
        assert_eq!(Address::parse("   "), Err(AddressError::Empty));
        assert_eq!(Address::parse("user"), Err(AddressError::MissingAt));
        assert_eq!(Address::parse("@a:b@c"), Err(AddressError::SourceRoute));
        assert_eq!(
            Address::parse("us er@x.test"),
            Err(AddressError::InvalidLocal("whitespace inside the address"))
        );
        assert_eq!(
            Address::parse("a..b@x.test"),
            Err(AddressError::InvalidLocal("dots must separate words"))
        );
        assert_eq!(
            Address::parse("a@-x.test"),
            Err(AddressError::InvalidDomain(
                "label starts or ends with a hyphen"
            ))
        );
        assert_eq!(
            Address::parse("a@x..test"),
            Err(AddressError::InvalidDomain("empty label"))
        );
        assert!(matches!(
            Address::parse(&format!("{}@x.test", "a".repeat(65))),
            Err(AddressError::TooLong(_))
        ));
    }

    #[test]
    fn unquoted_smtp_addresses_are_quoted_again() {
        let a = Address::from_smtp("x@remote.test@example.test").expect("valid");
        assert_eq!(
            (a.local(), a.domain()),
            ("\"x@remote.test\"", "example.test")
        );
        assert_eq!(
            Address::from_smtp("a b@example.test")
                .expect("valid")
                .local(),
            "\"a b\""
        );
        assert_eq!(
            Address::from_smtp("plain@example.test")
                .expect("valid")
                .local(),
            "plain"
        );
        assert!(Address::from_smtp("@example.test").is_err());
    }

    #[test]
    fn percent_and_bang_are_plain_local_characters() {
        assert_eq!(
            Address::parse("user%other@local.test")
                .expect("valid")
                .local(),
            "user%other"
        );
        assert_eq!(
            Address::parse("host!user@local.test")
                .expect("valid")
                .local(),
            "host!user"
        );
    }

    #[test]
    fn literals_and_utf8() {
        assert!(Address::parse("a@[127.0.0.1]").is_ok());
        assert!(Address::parse("a@[IPv6:::1]").is_ok());
        assert!(Address::parse("a@[300.1.1.1]").is_err());
        assert_eq!(
            Address::parse("Jörg@Bücher.TEST").expect("valid").domain(),
            "bücher.test"
        );
        assert_eq!(parse_domain(" Example.ORG "), Ok("example.org".into()));
    }
}

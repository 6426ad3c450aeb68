//! The bare `postmaster` recipient (RFC 5321 §4.5.1: every server must accept it without a
//! domain): it goes to `server.postmaster`, else to postmaster@ the primary domain.

use tern_proto::Address;
use tern_store::model::{Directory, ModelResult, domain::Domain};

/// Whether an RCPT address is the bare `postmaster`.
pub fn is_bare(raw: &str) -> bool {
    raw.eq_ignore_ascii_case("postmaster")
}

/// The primary domain: the local domain the host name is in (the longest that matches), else
/// the first one added.
fn primary<'a>(hostname: &str, domains: &'a [Domain]) -> Option<&'a Domain> {
    domains
        .iter()
        .filter(|d| hostname == d.name || hostname.ends_with(&format!(".{}", d.name)))
        .max_by_key(|d| d.name.len())
        .or_else(|| domains.iter().min_by_key(|d| (d.created, d.name.clone())))
}

/// Where the bare `postmaster` goes; `None` when no domain is set up.
pub async fn address(
    dir: &Directory,
    configured: Option<&str>,
    hostname: &str,
) -> ModelResult<Option<Address>> {
    if let Some(a) = configured {
        return Ok(Address::parse(a).ok());
    }
    let domains = dir.domains().await?;
    Ok(primary(hostname, &domains)
        .and_then(|d| Address::parse(&format!("postmaster@{}", d.name)).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str, created: i64) -> Domain {
        Domain {
            name: name.into(),
            created,
        }
    }

    #[test]
    fn primary_is_the_host_names_domain_else_the_first() {
        let domains = [
            domain("example.org", 20),
            domain("mail.example.org", 30),
            domain("example.net", 10),
        ];
        let p = |h: &str| primary(h, &domains).map(|d| d.name.as_str());
        assert_eq!(p("mx.example.org"), Some("example.org"));
        assert_eq!(p("mx.mail.example.org"), Some("mail.example.org"));
        assert_eq!(p("example.net"), Some("example.net"));
        assert_eq!(p("mx.other.test"), Some("example.net"), "the first added");
        assert_eq!(primary("mx.test", &[]), None);
        assert!(is_bare("PostMaster") && !is_bare("postmaster@example.org"));
    }
}

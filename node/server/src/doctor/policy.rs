//! A served domain's transport policies, when it publishes them: MTA-STS (RFC 8461: one
//! `_mta-sts` TXT record `v=STSv1; id=…`, and the `mta-sts.` host that serves the policy
//! resolving) and SMTP TLS reporting (RFC 8460: one `_smtp._tls` TXT record `v=TLSRPTv1;
//! rua=…`). A domain that publishes neither gets no finding. The policy file itself (fetched
//! over HTTPS by senders) is not fetched.

use hickory_resolver::TokioResolver;

use super::{
    Finding,
    dns::{Answer, classify, fqdn, resolver_failed, txt},
};

/// The one record of `name` that starts with `version` (case-insensitively): `Ok(None)` when
/// there is none, the finding `many` makes of their count when there are several, or the
/// resolver's failure.
async fn the_record(
    r: &TokioResolver,
    name: &str,
    version: &str,
    (check, domain): (&'static str, &str),
    many: impl FnOnce(usize) -> Finding,
) -> Result<Option<String>, Finding> {
    let mut found: Vec<String> = match txt(r, name).await {
        Answer::Found(t) => t
            .into_iter()
            .filter(|t| {
                t.get(..version.len())
                    .is_some_and(|v| v.eq_ignore_ascii_case(version))
            })
            .collect(),
        Answer::Missing => Vec::new(),
        Answer::Failed(e) => {
            return Err(resolver_failed(check, domain, &format!("TXT {name}"), &e));
        }
    };
    match found.len() {
        0 | 1 => Ok(found.pop()),
        n => Err(many(n)),
    }
}

/// The value of `tag` in a `k=v; k=v` record.
fn tag<'a>(record: &'a str, tag: &str) -> Option<&'a str> {
    record.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(tag)).then(|| v.trim())
    })
}

/// MTA-STS of `domain`, if it publishes one.
pub async fn mta_sts(r: &TokioResolver, domain: &str) -> Option<Finding> {
    let name = format!("_mta-sts.{domain}");
    let many = |n| {
        Finding::error(
            "dns.mta_sts",
            domain,
            format!(
                "{name} has {n} MTA-STS records: senders then ignore the policy (RFC 8461 §3.1)"
            ),
            "keep one `v=STSv1; id=…` record".into(),
        )
    };
    let record = match the_record(r, &name, "v=STSv1", ("dns.mta_sts", domain), many).await {
        Ok(Some(record)) => record,
        Ok(None) => return None,
        Err(finding) => return Some(finding),
    };
    let id_ok = tag(&record, "id").is_some_and(|id| {
        (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if !id_ok {
        return Some(Finding::error(
            "dns.mta_sts",
            domain,
            format!(
                "{name} is `{record}`: its id= must be 1 to 32 letters and digits, or senders ignore the policy"
            ),
            format!(
                "publish `{name}. TXT \"v=STSv1; id=20261205T000000\"` and change id= whenever the policy changes"
            ),
        ));
    }
    let host = format!("mta-sts.{domain}");
    Some(match classify(r.lookup_ip(fqdn(&host).as_str()).await) {
        Answer::Found(_) => Finding::ok(
            "dns.mta_sts",
            domain,
            format!(
                "MTA-STS announced ({record}); the policy host {host} resolves (the policy file itself is not fetched)"
            ),
        ),
        Answer::Missing => Finding::error(
            "dns.mta_sts",
            domain,
            format!(
                "{domain} announces MTA-STS but {host} has no address: senders cannot fetch the policy, and those with a cached policy in enforce mode keep applying it"
            ),
            format!(
                "serve https://{host}/.well-known/mta-sts.txt listing this server's MX, or remove {name}"
            ),
        ),
        Answer::Failed(e) => resolver_failed("dns.mta_sts", domain, &host, &e),
    })
}

/// SMTP TLS reporting of `domain`, if it publishes it.
pub async fn tls_rpt(r: &TokioResolver, domain: &str) -> Option<Finding> {
    let name = format!("_smtp._tls.{domain}");
    let many = |n| {
        Finding::warning(
            "dns.tls_rpt",
            domain,
            format!("{name} has {n} TLS-RPT records: senders send no reports (RFC 8460 §3)"),
            "keep one `v=TLSRPTv1; rua=…` record".into(),
        )
    };
    let record = match the_record(r, &name, "v=TLSRPTv1", ("dns.tls_rpt", domain), many).await {
        Ok(Some(record)) => record,
        Ok(None) => return None,
        Err(finding) => return Some(finding),
    };
    let rua_ok = tag(&record, "rua").is_some_and(|rua| {
        rua.split(',').all(|u| {
            let u = u.trim();
            u.starts_with("mailto:") || u.starts_with("https:")
        })
    });
    Some(if rua_ok {
        Finding::ok("dns.tls_rpt", domain, format!("TLS reporting: {record}"))
    } else {
        Finding::warning(
            "dns.tls_rpt",
            domain,
            format!(
                "{name} is `{record}`: rua= must list mailto: or https: addresses, or senders send no reports"
            ),
            format!("publish `{name}. TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\"`"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn tags_are_found_case_insensitively_and_trimmed() {
        assert_eq!(tag("v=STSv1; ID=abc123 ", "id"), Some("abc123"));
        assert_eq!(tag("v=TLSRPTv1;rua=mailto:a@b", "rua"), Some("mailto:a@b"));
        assert_eq!(tag("v=STSv1", "id"), None);
    }
}

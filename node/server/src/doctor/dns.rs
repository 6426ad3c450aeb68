//! Each served domain in DNS, as the senders and receivers of its mail see it: MX records that
//! point at this server (`server.hostname`), an address for that host, one SPF record, a DMARC
//! record, the DKIM key published as configured, and MTA-STS and TLS reporting where announced;
//! and the resolver itself answering. The lookup helpers are shared with the other DNS checks.

use hickory_resolver::{TokioResolver, net::NetError, proto::rr::RData};

use super::{Doctor, Finding};

/// What a lookup gave.
pub(super) enum Answer<T> {
    Found(T),
    /// The name or the record type does not exist.
    Missing,
    /// The resolver failed (timeout, refused, server failure).
    Failed(String),
}

pub(super) fn classify<T>(r: Result<T, NetError>) -> Answer<T> {
    match r {
        Ok(v) => Answer::Found(v),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Answer::Missing,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

pub(super) fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

pub(super) async fn txt(r: &TokioResolver, name: &str) -> Answer<Vec<String>> {
    match classify(r.txt_lookup(fqdn(name).as_str()).await) {
        Answer::Found(l) => Answer::Found(
            l.answers()
                .iter()
                .filter_map(|rec| match &rec.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
        ),
        Answer::Missing => Answer::Missing,
        Answer::Failed(e) => Answer::Failed(e),
    }
}

pub(super) fn resolver_failed(check: &'static str, subject: &str, what: &str, e: &str) -> Finding {
    Finding::error(
        check,
        subject,
        format!("the DNS lookup of {what} failed ({e}); while the resolver fails, outbound mail is deferred (\"host not found\")"),
        "check the node's resolver (queue.dns_server, else /etc/resolv.conf) and that it reaches the Internet".into(),
    )
}

/// The node's resolver, or the finding that there is none.
pub fn resolver(d: &Doctor) -> Result<TokioResolver, Finding> {
    crate::dns::resolver(d.dns_server).map_err(|e| {
        Finding::error(
            "dns.resolver",
            "resolver",
            format!("no DNS resolver could be set up: {e:#}"),
            "check queue.dns_server or /etc/resolv.conf".into(),
        )
    })
}

/// Findings for every served domain and for `server.hostname`.
pub async fn domains(d: &Doctor, resolver: &TokioResolver) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(host(d, resolver).await);
    let domains = match d.dir.domains().await {
        Ok(list) => list,
        Err(_) => return out, // the store check reports it
    };
    for domain in domains {
        out.extend(domain_records(d, resolver, &domain.name).await);
    }
    out
}

/// `server.hostname` has an address: senders connect to it as the MX host.
async fn host(d: &Doctor, r: &TokioResolver) -> Vec<Finding> {
    match classify(r.lookup_ip(fqdn(&d.hostname).as_str()).await) {
        Answer::Found(ips) => {
            let ips: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
            vec![Finding::ok(
                "dns.host",
                &d.hostname,
                format!("{} has the address {}", d.hostname, ips.join(", ")),
            )]
        }
        Answer::Missing => vec![Finding::error(
            "dns.host",
            &d.hostname,
            format!(
                "{} (server.hostname) has no A or AAAA record: senders cannot reach it",
                d.hostname
            ),
            format!(
                "publish an A (and AAAA) record for {} with the load balancer's address",
                d.hostname
            ),
        )],
        Answer::Failed(e) => vec![resolver_failed(
            "dns.resolver",
            &d.hostname,
            &d.hostname,
            &e,
        )],
    }
}

async fn domain_records(d: &Doctor, r: &TokioResolver, domain: &str) -> Vec<Finding> {
    let mut out = vec![mx(d, r, domain).await];
    out.push(spf(r, domain).await);
    out.push(dmarc(r, domain).await);
    out.extend(dkim(d, r, domain).await);
    out.extend(super::policy::mta_sts(r, domain).await);
    out.extend(super::policy::tls_rpt(r, domain).await);
    out
}

async fn mx(d: &Doctor, r: &TokioResolver, domain: &str) -> Finding {
    let hosts: Vec<String> = match classify(r.mx_lookup(fqdn(domain).as_str()).await) {
        Answer::Found(l) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::MX(mx) => Some(
                    mx.exchange
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                ),
                _ => None,
            })
            .collect(),
        Answer::Missing => Vec::new(),
        Answer::Failed(e) => return resolver_failed("dns.mx", domain, &format!("MX {domain}"), &e),
    };
    let ours = d.hostname.trim_end_matches('.').to_ascii_lowercase();
    if hosts.is_empty() {
        return Finding::error(
            "dns.mx",
            domain,
            format!(
                "{domain} has no MX record: senders fall back to its A record, which is rarely this server, or give up"
            ),
            format!("publish `{domain}. MX 10 {ours}.`"),
        );
    }
    if hosts.iter().all(|h| h.is_empty()) {
        return Finding::error(
            "dns.mx",
            domain,
            format!(
                "{domain} has a null MX (RFC 7505): it says it accepts no mail, so no one sends it any"
            ),
            format!("replace it with `{domain}. MX 10 {ours}.`"),
        );
    }
    if hosts.contains(&ours) {
        Finding::ok(
            "dns.mx",
            domain,
            format!("MX {} (this server is {ours})", hosts.join(", ")),
        )
    } else {
        Finding::warning(
            "dns.mx",
            domain,
            format!(
                "{domain}'s MX points at {}, not at this server ({ours}): mail for it goes elsewhere first",
                hosts.join(", ")
            ),
            format!(
                "publish `{domain}. MX 10 {ours}.`, unless a filtering service in front relays to this server on purpose"
            ),
        )
    }
}

async fn spf(r: &TokioResolver, domain: &str) -> Finding {
    let records: Vec<String> = match txt(r, domain).await {
        Answer::Found(t) => t
            .into_iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
            .collect(),
        Answer::Missing => Vec::new(),
        Answer::Failed(e) => {
            return resolver_failed("dns.spf", domain, &format!("TXT {domain}"), &e);
        }
    };
    match records.len() {
        0 => Finding::warning(
            "dns.spf",
            domain,
            format!(
                "{domain} publishes no SPF record: receivers cannot tell that this server may send its mail, and mark it as spam more often"
            ),
            format!("publish `{domain}. TXT \"v=spf1 mx -all\"` (or list the outbound addresses)"),
        ),
        1 => Finding::ok("dns.spf", domain, format!("SPF: {}", records[0])),
        n => Finding::error(
            "dns.spf",
            domain,
            format!(
                "{domain} publishes {n} SPF records: SPF then fails with a permanent error for every message (RFC 7208 §4.5)"
            ),
            "merge them into one `v=spf1 ...` record".into(),
        ),
    }
}

async fn dmarc(r: &TokioResolver, domain: &str) -> Finding {
    let name = format!("_dmarc.{domain}");
    match txt(r, &name).await {
        Answer::Found(t) if t.iter().any(|t| t.starts_with("v=DMARC1")) => Finding::ok(
            "dns.dmarc",
            domain,
            format!(
                "DMARC: {}",
                t.iter()
                    .find(|t| t.starts_with("v=DMARC1"))
                    .cloned()
                    .unwrap_or_default()
            ),
        ),
        Answer::Failed(e) => resolver_failed("dns.dmarc", domain, &format!("TXT {name}"), &e),
        _ => Finding::warning(
            "dns.dmarc",
            domain,
            format!(
                "{domain} publishes no DMARC record: large receivers (Gmail, Yahoo) require one from bulk senders, and others trust its mail less"
            ),
            format!(
                "publish `{name}. TXT \"v=DMARC1; p=none; rua=mailto:postmaster@{domain}\"`, then tighten p="
            ),
        ),
    }
}

/// The `p=` value of a DKIM key record.
fn key_of(record: &str) -> Option<String> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim() == "p").then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

async fn dkim(d: &Doctor, r: &TokioResolver, domain: &str) -> Option<Finding> {
    let key = d.dir.dkim(domain).await.ok()??;
    let name = format!("{}._domainkey.{domain}", key.selector);
    let expected = crate::dkim::dns_record(&key);
    let fix = format!("publish `{name}. TXT \"{expected}\"` (ternctl dkim show {domain})");
    Some(match txt(r, &name).await {
        Answer::Found(t) => {
            let published: Vec<Option<String>> = t.iter().map(|t| key_of(t)).collect();
            if published.contains(&key_of(&expected)) {
                Finding::ok(
                    "dns.dkim",
                    domain,
                    format!("the DKIM key of selector {} is published", key.selector),
                )
            } else {
                Finding::error(
                    "dns.dkim",
                    domain,
                    format!(
                        "{name} publishes a different key than the one Tern signs with: every signature fails and DMARC fails with it"
                    ),
                    fix,
                )
            }
        }
        Answer::Missing => Finding::error(
            "dns.dkim",
            domain,
            format!(
                "Tern signs {domain}'s mail with selector {} but {name} has no record: every signature fails",
                key.selector
            ),
            fix,
        ),
        Answer::Failed(e) => resolver_failed("dns.dkim", domain, &format!("TXT {name}"), &e),
    })
}

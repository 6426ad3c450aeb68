//! The addresses receivers see this node's mail come from (`queue.public_addresses`), judged
//! the way receivers judge them: reverse DNS that names this server (`server.hostname`, the
//! EHLO name) and resolves back to the address; each served domain's SPF passing for them
//! (evaluated with mail-auth, as a receiver would); no listing on the configured DNS block
//! lists, telling a list that refuses this resolver apart from a listing.

use std::net::IpAddr;

use hickory_resolver::{TokioResolver, proto::rr::RData};
use mail_auth::{MessageAuthenticator, SpfResult, spf::verify::SpfParameters};

use super::{
    Doctor, Finding,
    dns::{Answer, classify, fqdn, resolver_failed, txt},
};

/// Findings on each public address (an info finding when none is configured).
pub async fn identity(d: &Doctor, r: &TokioResolver) -> Vec<Finding> {
    if d.public_addresses.is_empty() {
        return vec![Finding::new(
            "outbound.address",
            super::Severity::Info,
            "queue.public_addresses",
            "the addresses receivers see this node's mail from are not configured: their reverse DNS, SPF and block listings are not checked".into(),
        )];
    }
    let domains: Vec<String> = match d.dir.domains().await {
        Ok(list) => list.into_iter().map(|d| d.name).collect(),
        Err(_) => Vec::new(), // the store check reports it
    };
    let mut out = Vec::new();
    for ip in &d.public_addresses {
        out.push(ptr(d, r, *ip).await);
        for domain in &domains {
            out.extend(spf(d, r, *ip, domain).await);
        }
        for zone in &d.blocklists {
            out.push(blocklist(r, *ip, zone).await);
        }
    }
    out
}

/// Reverse DNS: present, resolving back (FCrDNS), and naming the EHLO host.
async fn ptr(d: &Doctor, r: &TokioResolver, ip: IpAddr) -> Finding {
    let subject = ip.to_string();
    let host = d.hostname.trim_end_matches('.').to_ascii_lowercase();
    let names: Vec<String> = match classify(r.reverse_lookup(ip).await) {
        Answer::Found(l) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        Answer::Missing => Vec::new(),
        Answer::Failed(e) => {
            return resolver_failed("outbound.ptr", &subject, &format!("PTR {ip}"), &e);
        }
    };
    if names.is_empty() {
        return Finding::error(
            "outbound.ptr",
            &subject,
            format!(
                "{ip} has no reverse DNS (PTR): Gmail, Outlook and many others refuse or junk mail from such addresses"
            ),
            format!(
                "ask the address's owner (the hosting or cloud provider) to set its PTR to {host}"
            ),
        );
    }
    let mut confirmed = Vec::new();
    for name in &names {
        if let Answer::Found(ips) = classify(r.lookup_ip(fqdn(name).as_str()).await)
            && ips.iter().any(|a| a == ip)
        {
            confirmed.push(name.clone());
        }
    }
    if confirmed.is_empty() {
        return Finding::error(
            "outbound.ptr",
            &subject,
            format!(
                "{ip}'s PTR names {}, which does not resolve back to {ip}: receivers that require forward-confirmed reverse DNS refuse its mail",
                names.join(", ")
            ),
            format!("publish an A/AAAA record {ip} for {host} and set the PTR to {host}"),
        );
    }
    if !confirmed.contains(&host) {
        return Finding::warning(
            "outbound.ptr",
            &subject,
            format!(
                "{ip}'s PTR names {}, but this server says EHLO {host}: many receivers score the mismatch as spam",
                confirmed.join(", ")
            ),
            format!(
                "set the PTR of {ip} to {host}, or server.hostname to {}",
                confirmed[0]
            ),
        );
    }
    Finding::ok(
        "outbound.ptr",
        &subject,
        format!("{ip} reverses to {host}, which resolves back to it"),
    )
}

/// SPF of `domain` for mail from `ip` (none when the domain publishes no SPF record: the
/// `dns.spf` check says so).
async fn spf(d: &Doctor, r: &TokioResolver, ip: IpAddr, domain: &str) -> Option<Finding> {
    let auth = MessageAuthenticator(r.clone());
    let sender = format!("postmaster@{domain}");
    let host = d.hostname.trim_end_matches('.');
    let out = auth
        .verify_spf(SpfParameters::verify_mail_from(ip, host, host, &sender))
        .await;
    let subject = format!("{domain} from {ip}");
    let fix = || {
        format!(
            "add `ip{}:{ip}` to {domain}'s SPF record",
            if ip.is_ipv4() { 4 } else { 6 }
        )
    };
    let said = |what: &str| format!("SPF of {domain} gives {what} for mail from {ip}");
    Some(match out.result() {
        SpfResult::None => return None,
        SpfResult::Pass => Finding::ok("outbound.spf", &subject, said("pass")),
        SpfResult::Fail => Finding::error(
            "outbound.spf",
            &subject,
            format!(
                "{}: receivers refuse or junk its mail (and DMARC fails unless DKIM passes)",
                said("fail")
            ),
            fix(),
        ),
        SpfResult::SoftFail | SpfResult::Neutral => Finding::warning(
            "outbound.spf",
            &subject,
            format!(
                "{}: receivers trust its mail less",
                said(if out.result() == SpfResult::SoftFail {
                    "softfail"
                } else {
                    "neutral"
                })
            ),
            fix(),
        ),
        SpfResult::PermError => Finding::error(
            "outbound.spf",
            &subject,
            format!(
                "{}: the record is broken (a syntax error, too many lookups, or an include that does not exist), which receivers treat as a failure",
                said("permerror")
            ),
            format!("fix {domain}'s SPF record (at most 10 DNS-querying terms)"),
        ),
        SpfResult::TempError => resolver_failed(
            "outbound.spf",
            &subject,
            &format!("SPF {domain}"),
            "temporary error",
        ),
    })
}

/// The name `ip` is looked up under in `zone`: reversed octets (IPv4) or nibbles (IPv6).
fn query(ip: IpAddr, zone: &str) -> String {
    let parts: Vec<String> = match ip {
        IpAddr::V4(v4) => v4.octets().iter().rev().map(u8::to_string).collect(),
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .rev()
            .flat_map(|b| [b & 0x0f, b >> 4])
            .map(|n| format!("{n:x}"))
            .collect(),
    };
    format!("{}.{zone}", parts.join("."))
}

/// Whether `ip` is listed on `zone`. A 127.255.255.x answer is the list refusing this
/// resolver (a public resolver, or too many queries), not a listing.
async fn blocklist(r: &TokioResolver, ip: IpAddr, zone: &str) -> Finding {
    let subject = format!("{ip} on {zone}");
    let name = query(ip, zone);
    let codes: Vec<std::net::Ipv4Addr> = match classify(r.ipv4_lookup(fqdn(&name).as_str()).await) {
        Answer::Found(l) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect(),
        Answer::Missing => Vec::new(),
        Answer::Failed(e) => {
            return Finding::warning(
                "outbound.blocklist",
                &subject,
                format!("could not ask {zone} ({e}): whether {ip} is listed is unknown"),
                "check the resolver, or remove the list from queue.blocklists".into(),
            );
        }
    };
    if codes.is_empty() {
        return Finding::ok(
            "outbound.blocklist",
            &subject,
            format!("{ip} is not listed on {zone}"),
        );
    }
    if let Some(code) = codes.iter().find(|c| c.octets()[..3] == [127, 255, 255]) {
        return Finding::warning(
            "outbound.blocklist",
            &subject,
            format!(
                "{zone} refused to answer this resolver ({code}): it does not serve queries from public or high-volume resolvers, so whether {ip} is listed is unknown"
            ),
            format!(
                "query {zone} through a resolver of your own (queue.dns_server), or register with the list"
            ),
        );
    }
    let reason = match txt(r, &name).await {
        Answer::Found(t) if !t.is_empty() => format!(" ({})", t.join(" ")),
        _ => String::new(),
    };
    let codes: Vec<String> = codes.iter().map(ToString::to_string).collect();
    Finding::error(
        "outbound.blocklist",
        &subject,
        format!(
            "{ip} is listed on {zone} ({}){reason}: receivers that use this list refuse its mail (bounces with reason block_list)",
            codes.join(", ")
        ),
        format!(
            "find and stop what sent spam from {ip} (an open relay, a compromised account), then ask {zone} to delist it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_list_queries_reverse_the_address() {
        let v4: IpAddr = "192.0.2.99".parse().expect("ip");
        assert_eq!(query(v4, "bl.example"), "99.2.0.192.bl.example");
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(
            query(v6, "bl.example"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example"
        );
    }
}

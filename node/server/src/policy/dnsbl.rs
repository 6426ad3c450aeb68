//! DNS block and allow lists at connect, postscreen style (`[smtp.checks.dnsbl]`): the
//! client's address is looked up in every configured list at once (`4.3.2.1.zone` for
//! 1.2.3.4, nibbles for IPv6); each list that lists it adds its weight (negative for an allow
//! list); a score at or over `threshold` is refused with `554 5.7.1` naming the lists and
//! their listing pages, one at or under `allow_threshold` makes the client trusted for the
//! session; listings under the threshold add their weights to the spam score. Answers in
//! 127.255.255.0/24 mean the list refuses our queries (public resolvers,
//! too many queries): logged, and taken as not listed, never as listed. A list that does not
//! answer within `timeout` counts as not listed. Answers are cached by the node's resolver
//! for their TTL (negative answers too).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::LazyLock,
    time::Duration,
};

use hickory_resolver::TokioResolver;
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::smtp::reply;

use super::{Check, CheckFuture, Facts, Marks, Stage, Verdict};

/// One list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// Its DNS zone (`zen.spamhaus.org`).
    pub zone: String,
    /// What a listing adds to the score (negative: an allow list).
    pub weight: i32,
    /// Its listing page, `{ip}` replaced by the client's address.
    pub url: Option<String>,
}

/// The lists and their thresholds.
#[derive(Debug, Clone)]
pub struct DnsblConfig {
    /// The lists, in order.
    pub lists: Vec<List>,
    /// Score at or over which the client is refused.
    pub threshold: i32,
    /// Score at or under which the client is trusted.
    pub allow_threshold: i32,
    /// How long the lookups may take in all.
    pub timeout: Duration,
}

/// What one list said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Listed, with the list's code.
    Listed(Ipv4Addr),
    /// Not listed (no such name).
    Clean,
    /// The list refuses to answer us (a code in 127.255.255.0/24).
    Refused(Ipv4Addr),
    /// No answer in time.
    Timeout,
    /// The lookup failed, or answered outside 127.0.0.0/8.
    Error(String),
}

impl Answer {
    fn label(&self) -> &'static str {
        match self {
            Answer::Listed(_) => "listed",
            Answer::Clean => "clean",
            Answer::Refused(_) => "refused",
            Answer::Timeout => "timeout",
            Answer::Error(_) => "error",
        }
    }
}

/// The name to look up for `ip` in `zone`.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}.")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            format!("{name}{zone}.")
        }
    }
}

/// What a list's A records mean.
pub fn decode(addresses: &[Ipv4Addr]) -> Answer {
    if let Some(a) = addresses
        .iter()
        .find(|a| a.octets()[..3] == [127, 255, 255])
    {
        return Answer::Refused(*a);
    }
    match addresses.iter().find(|a| a.octets()[0] == 127) {
        Some(a) => Answer::Listed(*a),
        None if addresses.is_empty() => Answer::Clean,
        None => Answer::Error(format!("answer {} is outside 127.0.0.0/8", addresses[0])),
    }
}

static LOOKUPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "tern_dnsbl_lookups_total",
            "DNS list lookups at connect, by list and result (listed, clean, refused: the list \
             refuses our queries, timeout, error)"
        ),
        &["list", "result"]
    )
    .expect("metric registers once")
});

/// The check.
pub struct Dnsbl {
    config: DnsblConfig,
    resolver: TokioResolver,
}

impl Dnsbl {
    /// The check over `resolver`; its metrics are exported at 0 from now.
    pub fn new(config: DnsblConfig, resolver: TokioResolver) -> Self {
        for list in &config.lists {
            for result in ["listed", "clean", "refused", "timeout", "error"] {
                LOOKUPS.with_label_values(&[&list.zone, result]);
            }
        }
        Self { config, resolver }
    }

    async fn ask(resolver: TokioResolver, name: String, timeout: Duration) -> Answer {
        match tokio::time::timeout(timeout, resolver.ipv4_lookup(name.as_str())).await {
            Err(_) => Answer::Timeout,
            Ok(Ok(lookup)) => {
                let found: Vec<Ipv4Addr> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        hickory_resolver::proto::rr::RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                decode(&found)
            }
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => Answer::Clean,
            Ok(Err(e)) => Answer::Error(e.to_string()),
        }
    }

    /// Looks `ip` up in every list at once; each list's answer, in list order.
    pub async fn answers(&self, ip: IpAddr) -> Vec<Answer> {
        let asks = self.config.lists.iter().map(|l| {
            Self::ask(
                self.resolver.clone(),
                query_name(ip, &l.zone),
                self.config.timeout,
            )
        });
        futures::future::join_all(asks).await
    }

    /// The verdict on `ip` from the lists' answers.
    pub fn judge(&self, ip: IpAddr, answers: &[Answer]) -> Verdict {
        let mut score = 0;
        let mut listing: Vec<&List> = Vec::new();
        let mut points = Vec::new();
        for (list, answer) in self.config.lists.iter().zip(answers) {
            LOOKUPS
                .with_label_values(&[&list.zone, answer.label()])
                .inc();
            match answer {
                Answer::Listed(code) => {
                    score += list.weight;
                    points.push((format!("DNSBL {}", list.zone), f64::from(list.weight)));
                    if list.weight > 0 {
                        listing.push(list);
                    }
                    tracing::info!(peer = %ip, list = %list.zone, code = %code, weight = list.weight, "client listed");
                }
                Answer::Refused(code) => tracing::warn!(
                    list = %list.zone, code = %code,
                    "a DNS list refuses our queries (taken as not listed): query it through a resolver of your own"
                ),
                Answer::Timeout => {
                    tracing::warn!(list = %list.zone, peer = %ip, "DNS list did not answer in time (taken as not listed)")
                }
                Answer::Error(why) => {
                    tracing::warn!(list = %list.zone, peer = %ip, error = %why, "DNS list lookup failed (taken as not listed)")
                }
                Answer::Clean => {}
            }
        }
        if score >= self.config.threshold && !listing.is_empty() {
            listing.sort_by_key(|l| -l.weight);
            let named: Vec<String> = listing
                .iter()
                .map(|l| match &l.url {
                    Some(url) => format!("{} ({})", l.zone, url.replace("{ip}", &ip.to_string())),
                    None => l.zone.clone(),
                })
                .collect();
            return Verdict::Reject(reply::policy_refused(format!(
                "{ip} is blocked: listed by {}",
                named.join(", ")
            )));
        }
        if score <= self.config.allow_threshold {
            return Verdict::Allow;
        }
        if points.is_empty() {
            return Verdict::Pass;
        }
        // Listed below the threshold: each list's weight counts towards the spam score.
        Verdict::Mark(Marks {
            score: points,
            ..Marks::default()
        })
    }
}

impl Check for Dnsbl {
    fn name(&self) -> &'static str {
        "dnsbl"
    }

    fn stages(&self) -> &'static [Stage] {
        &[Stage::Connect]
    }

    fn check<'a>(&'a self, _: Stage, facts: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
        Box::pin(async move {
            let answers = self.answers(facts.peer).await;
            self.judge(facts.peer, &answers)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reversed_and_codes_decoded() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            query_name(ip("192.0.2.99"), "bl.test."),
            "99.2.0.192.bl.test."
        );
        assert_eq!(
            query_name(ip("::ffff:192.0.2.99"), "bl.test"),
            "99.2.0.192.bl.test."
        );
        let v6 = query_name(ip("2001:db8::1"), "bl.test");
        assert!(
            v6.starts_with("1.0.0.0.0.0.0.0.") && v6.ends_with(".8.b.d.0.1.0.0.2.bl.test."),
            "{v6}"
        );
        assert_eq!(v6.split('.').count(), 32 + 3);
        let a = |s: &str| s.parse::<Ipv4Addr>().expect("ip");
        assert_eq!(decode(&[a("127.0.0.2")]), Answer::Listed(a("127.0.0.2")));
        assert_eq!(
            decode(&[a("127.0.0.2"), a("127.255.255.254")]),
            Answer::Refused(a("127.255.255.254"))
        );
        assert_eq!(decode(&[]), Answer::Clean);
        assert!(matches!(decode(&[a("198.51.100.1")]), Answer::Error(_)));
    }

    #[tokio::test]
    async fn weights_add_up_and_only_listings_count() {
        let list = |zone: &str, weight| List {
            zone: zone.into(),
            weight,
            url: Some("https://lists.test/?ip={ip}".into()),
        };
        let check = Dnsbl::new(
            DnsblConfig {
                lists: vec![
                    list("big.test", 2),
                    list("small.test", 1),
                    list("white.test", -3),
                ],
                threshold: 3,
                allow_threshold: -1,
                timeout: Duration::from_secs(1),
            },
            crate::dns::resolver(None).expect("resolver"),
        );
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let listed = Answer::Listed(Ipv4Addr::new(127, 0, 0, 2));
        let refused = Answer::Refused(Ipv4Addr::new(127, 255, 255, 254));
        // 2 + 1 reaches 3: refused, the heavier list named first, with its page.
        let Verdict::Reject(r) = check.judge(ip, &[listed.clone(), listed.clone(), Answer::Clean])
        else {
            panic!("refused")
        };
        assert_eq!(
            r.lines[0],
            "192.0.2.1 is blocked: listed by big.test (https://lists.test/?ip=192.0.2.1), small.test (https://lists.test/?ip=192.0.2.1)"
        );
        // A list refusing our queries or timing out never counts as a listing; the listing
        // under the threshold goes to the spam score.
        assert_eq!(
            check.judge(ip, &[listed.clone(), refused, Answer::Timeout]),
            Verdict::Mark(Marks {
                score: vec![("DNSBL big.test".into(), 2.0)],
                ..Marks::default()
            })
        );
        assert_eq!(
            check.judge(ip, &[Answer::Clean, Answer::Clean, Answer::Clean]),
            Verdict::Pass
        );
        // The allow list outweighs: trusted.
        assert_eq!(
            check.judge(ip, &[listed.clone(), Answer::Clean, listed]),
            Verdict::Allow
        );
    }
}

//! The IP allow and deny lists (`[smtp.checks.ip_lists]`), at connect: a client in `allow` is
//! trusted for the session (the checks that spare trusted clients are skipped for it); one in
//! `deny` and not in `allow` is refused with `554 5.7.1`, its address named. IPv4 clients on a
//! dual-stack socket (`::ffff:a.b.c.d`) are matched as IPv4.

use ipnet::IpNet;
use tern_proto::smtp::reply;

use super::{Check, CheckFuture, Facts, Marks, Stage, Verdict};

/// The lists.
#[derive(Debug, Clone, Default)]
pub struct IpLists {
    /// Trusted networks.
    pub allow: Vec<IpNet>,
    /// Refused networks.
    pub deny: Vec<IpNet>,
}

impl IpLists {
    /// The verdict on `ip`.
    pub fn verdict(&self, ip: std::net::IpAddr) -> Verdict {
        let ip = ip.to_canonical();
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return Verdict::Allow;
        }
        match self.deny.iter().find(|n| n.contains(&ip)) {
            Some(net) => Verdict::Reject(reply::policy_refused(format!(
                "{ip} is refused by this server's policy (deny list entry {net})"
            ))),
            None => Verdict::Pass,
        }
    }
}

impl Check for IpLists {
    fn name(&self) -> &'static str {
        "ip_lists"
    }

    fn stages(&self) -> &'static [Stage] {
        &[Stage::Connect]
    }

    fn check<'a>(&'a self, _: Stage, facts: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
        let verdict = self.verdict(facts.peer);
        Box::pin(async move { verdict })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_wins_over_deny_and_mapped_addresses_match_as_ipv4() {
        let lists = IpLists {
            allow: vec!["192.0.2.7/32".parse().expect("net")],
            deny: vec![
                "192.0.2.0/24".parse().expect("net"),
                "2001:db8::/32".parse().expect("net"),
            ],
        };
        let v = |ip: &str| lists.verdict(ip.parse().expect("ip"));
        assert_eq!(v("192.0.2.7"), Verdict::Allow);
        assert_eq!(v("198.51.100.1"), Verdict::Pass);
        let Verdict::Reject(r) = v("::ffff:192.0.2.9") else {
            panic!("denied")
        };
        assert_eq!((r.code, r.status), (554, Some("5.7.1")));
        assert!(r.lines[0].contains("192.0.2.9") && r.lines[0].contains("192.0.2.0/24"));
        assert!(matches!(v("2001:db8::1"), Verdict::Reject(_)));
    }
}

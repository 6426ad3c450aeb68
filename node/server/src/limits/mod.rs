//! Counting what clients do, cluster-wide: the seam rate limits and login protection share
//! ([`counters`]), and the login protection itself ([`logins`]).

pub mod counters;
pub mod logins;

/// The /24 of an IPv4 address, the /64 of an IPv6 one.
pub fn network(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn networks_are_the_24_or_the_64() {
        let net = |ip: &str| super::network(ip.parse().expect("ip"));
        assert_eq!(net("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("::ffff:192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("2001:db8:1:2:3::9"), "2001:db8:1:2::/64");
    }
}

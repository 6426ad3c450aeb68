//! PROXY protocol headers (HAProxy's text v1 and binary v2), which a load balancer puts in
//! front of a connection to name the client it accepted. Without I/O: whether the first bytes
//! of a connection begin one, and — once enough bytes are there — how long it is and which
//! client it names. Parsing is the `ppp` crate's.

use std::net::SocketAddr;

use ppp::{HeaderResult, PartialResult, v1, v2};

/// How a v1 header begins.
const V1_START: &[u8] = b"PROXY ";
/// The v2 signature.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header (the protocol's own limit, CRLF included).
pub const V1_MAX: usize = 107;
/// The longest v2 header accepted: the fixed 16 bytes and up to 4 KiB of addresses and TLVs
/// (load balancers send well under that; the format allows 64 KiB).
pub const V2_MAX: usize = 16 + 4096;

/// What the first bytes of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A PROXY header begins here.
    Header,
    /// Something else (a client's own first bytes).
    Other,
    /// Too few bytes to tell.
    Undecided,
}

/// Whether `prefix`, the first bytes received, begins a PROXY header.
pub fn start(prefix: &[u8]) -> Start {
    let mut undecided = false;
    for sig in [V1_START, V2_SIGNATURE] {
        let n = prefix.len().min(sig.len());
        if prefix[..n] == sig[..n] {
            if n == sig.len() {
                return Start::Header;
            }
            undecided = true;
        }
    }
    if undecided {
        Start::Undecided
    } else {
        Start::Other
    }
}

/// How many bytes the header beginning `prefix` needs at most to be complete: its announced
/// length for v2 once the fixed part is there (at most [`V2_MAX`]), else [`V1_MAX`].
pub fn needed(prefix: &[u8]) -> usize {
    match prefix.get(14..16) {
        Some(len) if prefix.starts_with(V2_SIGNATURE) => {
            (16 + usize::from(u16::from_be_bytes([len[0], len[1]]))).min(V2_MAX)
        }
        _ => V1_MAX,
    }
}

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Its length in bytes (what to consume before the client's own bytes).
    pub len: usize,
    /// The client it names; `None` for a v2 LOCAL command (the balancer's own health check),
    /// v1 `UNKNOWN` or a non-IP family: the connection is the balancer's own.
    pub client: Option<SocketAddr>,
    /// 1 or 2.
    pub version: u8,
}

/// What the bytes received so far hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header.
    Complete(Header),
    /// A header's beginning: more bytes are needed.
    Incomplete,
    /// Not a valid header (or a longer one than accepted); the reason.
    Invalid(String),
}

/// Parses the header at the start of `buf` (which may hold the client's bytes after it).
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.starts_with(V2_SIGNATURE)
        && let Some(len) = buf.get(14..16)
        && 16 + usize::from(u16::from_be_bytes([len[0], len[1]])) > V2_MAX
    {
        return Parsed::Invalid(format!("a v2 header longer than {V2_MAX} bytes"));
    }
    let result = HeaderResult::parse(buf);
    if result.is_incomplete() {
        // ppp calls a header missing a field "incomplete" even when its line or its announced
        // length is all there: more bytes cannot help then.
        let line_ended = buf.windows(2).any(|w| w == b"\r\n");
        return match start(buf) {
            Start::Other => Parsed::Invalid("not a PROXY header".into()),
            _ if buf.starts_with(V1_START) && buf.len() >= V1_MAX => {
                Parsed::Invalid(format!("a v1 header longer than {V1_MAX} bytes"))
            }
            _ if buf.starts_with(V1_START) && line_ended => {
                Parsed::Invalid("a v1 header with fields missing".into())
            }
            _ if buf.starts_with(V2_SIGNATURE) && buf.len() >= 16 && buf.len() >= needed(buf) => {
                Parsed::Invalid("a v2 header shorter than its addresses".into())
            }
            _ => Parsed::Incomplete,
        };
    }
    match result {
        HeaderResult::V1(Ok(h)) if h.header.len() > V1_MAX => {
            Parsed::Invalid(format!("a v1 header longer than {V1_MAX} bytes"))
        }
        HeaderResult::V1(Ok(h)) => Parsed::Complete(Header {
            len: h.header.len(),
            client: match h.addresses {
                v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                v1::Addresses::Unknown => None,
            },
            version: 1,
        }),
        HeaderResult::V2(Ok(h)) => Parsed::Complete(Header {
            len: h.len(),
            client: match (h.command, h.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                _ => None,
            },
            version: 2,
        }),
        HeaderResult::V1(Err(e)) => Parsed::Invalid(format!("v1: {e}")),
        HeaderResult::V2(Err(e)) => Parsed::Invalid(format!("v2: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 PROXY header for TCP over IPv4 from `client` to 10.0.0.1:25, built by hand from the
    /// specification (not with the parser under test), with `tlv` appended.
    fn v2(client: ([u8; 4], u16), command: u8, tlv: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(0x11); // AF_INET, STREAM
        h.extend_from_slice(&(12 + tlv.len() as u16).to_be_bytes());
        h.extend_from_slice(&client.0);
        h.extend_from_slice(&[10, 0, 0, 1]);
        h.extend_from_slice(&client.1.to_be_bytes());
        h.extend_from_slice(&25u16.to_be_bytes());
        h.extend_from_slice(tlv);
        h
    }

    #[test]
    fn the_first_bytes_tell_a_header_from_a_client() {
        assert_eq!(start(b"PROXY TCP4"), Start::Header);
        assert_eq!(start(b"PRO"), Start::Undecided);
        assert_eq!(start(b""), Start::Undecided);
        assert_eq!(start(b"\r\n\r\n\0"), Start::Undecided);
        assert_eq!(start(&v2(([1, 2, 3, 4], 1), 1, &[])), Start::Header);
        assert_eq!(start(b"EHLO x\r\n"), Start::Other);
        assert_eq!(
            start(&[0x16, 0x03, 0x01]),
            Start::Other,
            "a TLS ClientHello"
        );
    }

    #[test]
    fn v1_names_the_client_and_its_length_excludes_what_follows() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 40000 25\r\n";
        let mut buf = line.to_vec();
        buf.extend_from_slice(b"EHLO client\r\n");
        assert_eq!(
            parse(&buf),
            Parsed::Complete(Header {
                len: line.len(),
                client: Some("203.0.113.7:40000".parse().expect("addr")),
                version: 1,
            })
        );
        let six = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 993\r\n";
        assert!(
            matches!(parse(six), Parsed::Complete(Header { client: Some(a), .. }) if a.is_ipv6())
        );
        assert!(matches!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Complete(Header {
                client: None,
                len: 15,
                ..
            })
        ));
        assert_eq!(parse(b"PROXY TCP4 203.0.113.7 10.0"), Parsed::Incomplete);
    }

    #[test]
    fn v2_names_the_client_and_local_names_none() {
        let h = v2(([198, 51, 100, 9], 51000), 1, &[0x04, 0x00, 0x01, 0x00]);
        let mut buf = h.clone();
        buf.extend_from_slice(&[0x16, 0x03, 0x01]);
        assert_eq!(
            parse(&buf),
            Parsed::Complete(Header {
                len: h.len(),
                client: Some("198.51.100.9:51000".parse().expect("addr")),
                version: 2,
            })
        );
        assert!(matches!(
            parse(&v2(([198, 51, 100, 9], 1), 0, &[])),
            Parsed::Complete(Header { client: None, .. })
        ));
        assert_eq!(parse(&h[..20]), Parsed::Incomplete);
        assert_eq!(needed(&h[..20]), h.len());
        assert_eq!(needed(b"PROXY TCP4"), V1_MAX);
    }

    #[test]
    fn malformed_and_oversized_headers_are_invalid() {
        for bad in [
            &b"PROXY TCP4 999.0.0.1 10.0.0.1 1 25\r\n"[..],
            b"PROXY SCTP 1.2.3.4 10.0.0.1 1 25\r\n",
            b"PROXY TCP4 1.2.3.4 10.0.0.1 99999 25\r\n",
            b"PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n",
            b"PROXY TCP4\r\nEHLO x\r\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
        }
        let long = format!("PROXY TCP4 {}", "1".repeat(200));
        assert!(matches!(parse(long.as_bytes()), Parsed::Invalid(_)));
        let unknown = format!("PROXY UNKNOWN {}\r\n", "x".repeat(120));
        assert!(matches!(parse(unknown.as_bytes()), Parsed::Invalid(_)));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(parse(&huge), Parsed::Invalid(r) if r.contains("longer")));
        // Announces IPv4 addresses in 4 bytes instead of 12.
        let mut short = v2(([1, 2, 3, 4], 1), 1, &[]);
        short[15] = 4;
        short.truncate(20);
        assert!(matches!(parse(&short), Parsed::Invalid(_)));
        let mut wrong_version = v2(([1, 2, 3, 4], 1), 1, &[]);
        wrong_version[12] = 0x31;
        assert!(matches!(parse(&wrong_version), Parsed::Invalid(_)));
    }
}

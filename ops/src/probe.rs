//! `ternctl doctor --external HOST`: the mail ports as a client outside sees them — each one
//! accepts a connection within five seconds and greets in its protocol (`220`, `* OK`, `+OK`);
//! on the implicit-TLS ports (465, 993, 995) the TLS handshake succeeds and the certificate is
//! trusted (web PKI roots, or `--ca`) for HOST. Findings take the node's finding format.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::Arc,
    time::Duration,
};

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::{Value, json};

/// How long each step may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A mail service and where it listens by default.
pub struct Service {
    /// Its name (the node's listener key).
    pub name: &'static str,
    /// Its standard port.
    pub port: u16,
    /// TLS from the first byte.
    pub implicit_tls: bool,
    /// How its greeting starts.
    pub greeting: &'static str,
}

/// The standard mail services.
pub const SERVICES: [Service; 7] = [
    Service {
        name: "smtp",
        port: 25,
        implicit_tls: false,
        greeting: "220",
    },
    Service {
        name: "submission",
        port: 587,
        implicit_tls: false,
        greeting: "220",
    },
    Service {
        name: "submissions",
        port: 465,
        implicit_tls: true,
        greeting: "220",
    },
    Service {
        name: "imap",
        port: 143,
        implicit_tls: false,
        greeting: "* OK",
    },
    Service {
        name: "imaps",
        port: 993,
        implicit_tls: true,
        greeting: "* OK",
    },
    Service {
        name: "pop3",
        port: 110,
        implicit_tls: false,
        greeting: "+OK",
    },
    Service {
        name: "pop3s",
        port: 995,
        implicit_tls: true,
        greeting: "+OK",
    },
];

/// The TLS client: the web PKI roots, and `ca` (PEM) when given.
pub fn tls(ca: Option<&std::path::Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("--ca {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

fn finding(severity: &str, subject: &str, message: String, fix: &str) -> Value {
    json!({
        "check": "external.port",
        "severity": severity,
        "subject": subject,
        "message": message,
        "fix": fix,
    })
}

/// Reads the first line of a greeting.
fn first_line(stream: impl Read) -> std::io::Result<String> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}

/// Probes `service` on `host:port`.
pub fn probe(host: &str, service: &Service, port: u16, tls: &Arc<ClientConfig>) -> Value {
    let subject = format!("{host}:{port} ({})", service.name);
    let unreachable = "check the firewall, the load balancer or Service (type LoadBalancer, externalTrafficPolicy), and that the listener is configured";
    let addrs: Vec<_> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            return finding(
                "error",
                &subject,
                format!("{host} does not resolve: {e}"),
                "publish an address for it",
            );
        }
    };
    // Each address in turn, as clients do (`localhost` may name ::1 first).
    let mut failures = Vec::new();
    let mut connected = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, TIMEOUT) {
            Ok(t) => {
                connected = Some(t);
                break;
            }
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    let Some(tcp) = connected else {
        return finding(
            "error",
            &subject,
            format!("no connection ({})", failures.join("; ")),
            unreachable,
        );
    };
    let _ = tcp.set_read_timeout(Some(TIMEOUT));
    let _ = tcp.set_write_timeout(Some(TIMEOUT));
    let greeting = if service.implicit_tls {
        let name = match ServerName::try_from(host.to_string()) {
            Ok(n) => n,
            Err(e) => return finding("error", &subject, format!("{host}: {e}"), ""),
        };
        let conn = match ClientConnection::new(tls.clone(), name) {
            Ok(c) => c,
            Err(e) => return finding("error", &subject, format!("TLS: {e}"), ""),
        };
        let mut stream = StreamOwned::new(conn, tcp);
        // The handshake runs on the first read; its failure (an untrusted certificate, a
        // name it does not cover) is what a client outside sees.
        let line = first_line(&mut stream);
        let _ = stream.flush();
        match line {
            Ok(l) => l,
            Err(e) => {
                return finding(
                    "error",
                    &subject,
                    format!("TLS with {host} failed: {e}"),
                    "serve a certificate from a public CA that names this host (tls.certificate), or pass --ca for a private CA",
                );
            }
        }
    } else {
        match first_line(&tcp) {
            Ok(l) => l,
            Err(e) => {
                return finding(
                    "error",
                    &subject,
                    format!("connected, but no greeting: {e}"),
                    unreachable,
                );
            }
        }
    };
    if greeting.starts_with(service.greeting) {
        let tls = if service.implicit_tls {
            ", TLS certificate trusted"
        } else {
            ""
        };
        finding("ok", &subject, format!("reachable{tls}: {greeting}"), "")
    } else {
        finding(
            "error",
            &subject,
            format!(
                "connected, but the greeting is not {}'s: {greeting:?}",
                service.name
            ),
            "another program answers on this port, or the load balancer sends it elsewhere",
        )
    }
}

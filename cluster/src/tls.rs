//! Mutual TLS on the cluster port: every node presents a certificate signed by the cluster's CA
//! and accepts only peers whose certificate the same CA signed. Node certificates carry the DNS
//! name [`SERVER_NAME`] (besides any other), which is what a connecting node checks, so nodes
//! can be reached at any address. `tern cluster-certs` (or any CA tooling) makes them.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};

/// The name every node certificate carries and every node checks.
pub const SERVER_NAME: &str = "tern-cluster";

/// The cluster port's TLS, both directions.
#[derive(Clone)]
pub struct ClusterTls {
    /// For accepting peers (client certificates required).
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// For connecting to peers (presenting this node's certificate).
    pub connector: tokio_rustls::TlsConnector,
}

impl ClusterTls {
    /// Loads the CA, this node's certificate chain and key (PEM files).
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<ClusterTls> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("cluster.ca_file: reading {}", ca.display()))?
        {
            roots
                .add(c.with_context(|| format!("cluster.ca_file: parsing {}", ca.display()))?)
                .with_context(|| format!("cluster.ca_file: {}", ca.display()))?;
        }
        if roots.is_empty() {
            anyhow::bail!("cluster.ca_file: no certificate in {}", ca.display());
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .with_context(|| format!("cluster.certificate: reading {}", cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cluster.certificate: parsing {}", cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("cluster.private_key: reading {}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .context("cluster.ca_file: a client verifier")?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .context("cluster.certificate and cluster.private_key do not match")?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3")?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .context("cluster.certificate and cluster.private_key do not match")?;
        Ok(ClusterTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        })
    }

    /// The name a connecting node checks.
    pub fn server_name() -> ServerName<'static> {
        ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
    }
}

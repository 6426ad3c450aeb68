//! The built-in troubleshooter (`GET /api/v1/doctor`, `ternctl doctor`): checks of each served
//! domain's DNS, the addresses the node's mail comes from, the certificate, the data
//! filesystem, the store, the queue and the cluster (clocks too), each finding with its
//! severity, what it means and how to fix it.

mod accounts;
mod cluster;
mod dns;
mod local;
mod outbound;
mod policy;
mod ports;
mod queue;
mod tls;

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use serde::Serialize;

use crate::{queue::QueueContext, tls::TlsConfig};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Checked and right.
    Ok,
    /// Worth knowing; nothing is wrong yet.
    Info,
    /// Mail may be delayed, refused by some receivers, or soon affected.
    Warning,
    /// Mail is lost to senders, refused, or stuck now.
    Error,
}

impl Severity {
    /// The lowercase name, as in JSON.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check (`dns.mx`, `tls.expiry`, ...).
    pub check: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What was checked (a domain, a host name, a path).
    pub subject: String,
    /// What was found and what it means.
    pub message: String,
    /// What to do (empty when nothing is to be done).
    pub fix: String,
}

impl Finding {
    fn new(check: &'static str, severity: Severity, subject: &str, message: String) -> Finding {
        Finding {
            check,
            severity,
            subject: subject.to_string(),
            message,
            fix: String::new(),
        }
    }

    fn ok(check: &'static str, subject: &str, message: String) -> Finding {
        Finding::new(check, Severity::Ok, subject, message)
    }

    fn with_severity(
        severity: Severity,
        check: &'static str,
        subject: &str,
        message: String,
        fix: String,
    ) -> Finding {
        Finding {
            fix,
            ..Finding::new(check, severity, subject, message)
        }
    }

    fn warning(check: &'static str, subject: &str, message: String, fix: String) -> Finding {
        Finding::with_severity(Severity::Warning, check, subject, message, fix)
    }

    fn error(check: &'static str, subject: &str, message: String, fix: String) -> Finding {
        Finding::with_severity(Severity::Error, check, subject, message, fix)
    }
}

/// What the checks look at.
pub struct Doctor {
    /// The directory on the store.
    pub dir: tern_store::model::Directory,
    /// `server.hostname`: the MX host and EHLO name.
    pub hostname: String,
    /// `server.data_dir`.
    pub data_dir: PathBuf,
    /// The store's free-space floor.
    pub floor: tern_store::space::Floor,
    /// The DNS server the node resolves with (`None`: the system's).
    pub dns_server: Option<SocketAddr>,
    /// The served certificate.
    pub tls: Arc<TlsConfig>,
    /// The outbound queue.
    pub queue: Arc<QueueContext>,
    /// This node's part in the cluster.
    pub cluster: Option<Arc<tern_cluster::node::Cluster>>,
    /// The mail listeners bound, by configuration key.
    pub listeners: Vec<(&'static str, SocketAddr)>,
    /// `queue.public_addresses`.
    pub public_addresses: Vec<IpAddr>,
    /// `queue.blocklists`.
    pub blocklists: Vec<String>,
}

impl Doctor {
    /// Runs every check; findings in check order.
    pub async fn examine(&self) -> Vec<Finding> {
        let mut out = self.node().await;
        out.extend(ports::listening(self));
        match dns::resolver(self) {
            Ok(r) => {
                out.extend(dns::domains(self, &r).await);
                out.extend(outbound::identity(self, &r).await);
            }
            Err(finding) => out.push(finding),
        }
        out.extend(queue::state(self).await);
        out.extend(accounts::quotas(self).await);
        out.extend(cluster::health(self));
        out.extend(cluster::clocks(self).await);
        out
    }

    /// The conditions postmaster notices are about: this node's store, disk and certificate
    /// end, and the queue's and cluster's state (not DNS, nor how the certificate was issued:
    /// those are set up once, not conditions that arise).
    pub async fn conditions(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .node()
            .await
            .into_iter()
            .filter(|f| f.check != "tls.names" && f.check != "tls.issuer")
            .collect();
        out.extend(queue::state(self).await);
        out.extend(cluster::health(self));
        out.extend(cluster::clocks(self).await);
        out
    }

    async fn node(&self) -> Vec<Finding> {
        let mut out = local::store(self).await;
        out.extend(local::space(self));
        out.extend(tls::certificate(self));
        out
    }
}

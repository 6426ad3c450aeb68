//! One node: everything [`Node::build`] starts (store, listeners, sessions' shared contexts, the
//! outbound queue, maintenance), and [`Node::run`], which serves the admin API until shutdown
//! and then drains within the grace period.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use tern_store::{
    Db,
    model::{AddressPolicy, Directory, token},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use super::{maintenance, store};
use crate::{
    admin,
    config::Config,
    dev,
    headroom::Headroom,
    imap::{self, ImapContext, ListenerKind as ImapKind},
    live::{self, Live},
    metrics,
    net::{budget::Budget, descriptors, limits::ConnectionLimits, listener, proxy::ProxyPolicy},
    pop3::{self, ListenerKind as Pop3Kind, Pop3Context},
    queue::{self, QueueContext},
    shutdown::Shutdown,
    smtp::{self, ListenerKind, SmtpContext},
    tls::{self, TlsConfig},
};

/// Lanes of the filer: deliveries to one mailbox share a lane (and are batched there); the
/// lanes run their transactions side by side.
const FILER_LANES: usize = 8;

/// The bound address of every listener of a node.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    /// Admin API, metrics and health checks.
    pub http: Option<SocketAddr>,
    /// SMTP listeners by configuration key (`smtp`, `submission`, `submissions`).
    pub smtp: Vec<(&'static str, SocketAddr)>,
    /// IMAP listeners (`imap`, `imaps`).
    pub imap: Vec<(&'static str, SocketAddr)>,
    /// POP3 listeners (`pop3`, `pop3s`).
    pub pop3: Vec<(&'static str, SocketAddr)>,
}

/// A built node, listening and delivering; [`Node::run`] serves it until shutdown.
pub struct Node {
    config: Config,
    db: Db,
    dir: Directory,
    shutdown: Shutdown,
    http: TcpListener,
    addresses: Addresses,
    listeners: Vec<JoinHandle<()>>,
    smtp_ctx: Arc<SmtpContext>,
    pop3_ctx: Arc<Pop3Context>,
    imap_ctx: Arc<ImapContext>,
    queue_ctx: Arc<QueueContext>,
    outbound: JoinHandle<()>,
    gc: JoinHandle<()>,
    /// Flushes the rate-limit counters; ends (with a last flush) at shutdown.
    limits: JoinHandle<()>,
    headroom: Arc<Headroom>,
    cluster: Option<Arc<tern_cluster::node::Cluster>>,
    live: Live,
}

impl Node {
    /// Opens the store, prepares certificates and fixtures, binds every listener and starts
    /// the sessions' listeners, the outbound queue and maintenance.
    pub async fn build(config: Config) -> anyhow::Result<Node> {
        Self::build_with(config, None).await
    }

    /// [`Node::build`] with the queue's shards handed out by `given` (shard → owner epoch)
    /// instead of this node taking every shard, as the cluster does.
    pub async fn build_with(
        config: Config,
        given: Option<watch::Receiver<queue::ownership::Shards>>,
    ) -> anyhow::Result<Node> {
        let started = Instant::now();
        metrics::init();
        crate::password_check::configure(
            config.password_hashing,
            config.login_cache_ttl,
            config.login_cache_entries,
        );
        crate::tracking::configure(
            format!("node-{}", config.cluster.node_id),
            config.tracking_retention,
        );
        let connections = [
            config.smtp.max_connections,
            config.imap.max_connections,
            config.pop3.max_connections,
        ];
        descriptors::prepare(connections.iter().map(|n| *n as u64).sum());
        for (protocol, limit) in ["smtp", "imap", "pop3"].into_iter().zip(connections) {
            metrics::SESSIONS_LIMIT
                .with_label_values(&[protocol])
                .set(limit as i64);
        }
        let db = store::open(&config).await?;
        db.refresh_metrics();
        if let Some(space) = db.local_space() {
            tracing::info!(
                free_bytes = space.free_bytes,
                free_inodes = space.free_inodes,
                floor_bytes = config.storage_floor.bytes_for(space.total_bytes),
                "data filesystem"
            );
        }
        let dir = Directory::new(
            db.clone(),
            AddressPolicy {
                local_case_sensitive: config.local_part_case_sensitive,
            },
        )
        .with_hashing(config.password_hashing);

        queue::check_layout(&db, config.queue.shards).await?;

        let (cert, key) = match &config.tls {
            Some((c, k)) => (c.clone(), k.clone()),
            None => {
                let pair = tls::generate_self_signed(&config.data_dir, &config.certificate_names)?;
                if !config.dev {
                    let warning = format!(
                        "no [tls] certificate configured: serving a self-signed certificate for {} \
                         ({}); mail clients will warn and other servers may refuse it. Configure \
                         tls.certificate and tls.private_key for production.",
                        config.certificate_names.join(", "),
                        pair.0.display()
                    );
                    eprintln!("tern: WARNING: {warning}");
                    tracing::warn!("{warning}");
                }
                pair
            }
        };
        tracing::info!(certificate = %cert.display(), key = %key.display(), "TLS certificate ready");

        if config.dev {
            dev::prepare(&dir, &config.data_dir).await?;
        }

        let listener = TcpListener::bind(config.listeners.http)
            .await
            .with_context(|| format!("listeners.http: cannot bind {}", config.listeners.http))?;
        let http_addr = listener.local_addr()?;
        let mut addresses = Addresses {
            http: Some(http_addr),
            ..Addresses::default()
        };
        println!("admin listening on http://{http_addr}");
        tracing::info!(address = %http_addr, backend = db.backend().backend(), "admin API, metrics and health checks listening");
        let shutdown = Shutdown::new();
        let tls = Arc::new(TlsConfig::load(&cert, &key)?);
        let headroom = Arc::new(Headroom::new(db.clone(), config.storage_floor));
        let budget = Budget::new(config.max_buffered_bytes);
        let live = Live::new(config.cluster.node_id);
        tracing::info!(bytes = budget.limit(), "input memory budget");
        let envelopes = Arc::new(crate::envelopes::Envelopes::new(
            config.imap.envelope_cache_bytes,
        ));
        let counters = crate::limits::counters::Counters::new(db.clone());
        let guard = Arc::new(crate::limits::logins::LoginGuard::new(
            config.security.clone(),
            counters.clone(),
        ));
        crate::password_check::protect(&guard);
        // The counters flush until shutdown; the login guard lives as long.
        let limits = tokio::spawn({
            let (counters, shutdown) = (counters.clone(), shutdown.clone());
            async move {
                counters.run(shutdown).await;
                drop(guard);
            }
        });
        let smtp_ctx = Arc::new(SmtpContext {
            limits: ConnectionLimits::new(
                config.smtp.max_connections,
                config.smtp.max_connections_per_ip,
            )
            .exempting(config.smtp.trusted_networks.clone()),
            config: config.smtp.clone(),
            hostname: config.hostname.clone(),
            dir: dir.clone(),
            tls: Some(tls.clone()),
            shutdown: shutdown.clone(),
            sessions: live.sessions.clone(),
            filer: crate::filer::Filer::start(db.clone(), FILER_LANES)
                .remembering(envelopes.clone()),
            headroom: headroom.clone(),
            budget: budget.clone(),
            policy: crate::policy::Policy::from_config(
                &config.smtp.checks,
                &crate::dns::shared(config.queue.dns_server)?,
                &counters,
            ),
        });
        let l = &config.listeners;
        let mut listeners = Vec::new();
        for (addr, key, kind) in [
            (l.smtp, "smtp", ListenerKind::Mx),
            (l.submission, "submission", ListenerKind::Submission),
            (l.submissions, "submissions", ListenerKind::Submissions),
        ] {
            let Some(addr) = addr else { continue };
            let bound = listener::bind(addr, key).await?;
            let local = bound.local_addr()?;
            println!("{key} listening on {local}");
            tracing::info!(address = %local, listener = key, "SMTP listening");
            addresses.smtp.push((key, local));
            listeners.push(smtp::listener::spawn(
                bound,
                kind,
                smtp_ctx.clone(),
                ProxyPolicy::of(&config.proxy, key),
            ));
        }
        let pop3_ctx = Arc::new(Pop3Context {
            limits: ConnectionLimits::new(
                config.pop3.max_connections,
                config.pop3.max_connections_per_ip,
            ),
            config: config.pop3.clone(),
            hostname: config.hostname.clone(),
            dir: dir.clone(),
            tls: Some(tls.clone()),
            shutdown: shutdown.clone(),
            sessions: live.sessions.clone(),
        });
        for (addr, key, kind) in [
            (l.pop3, "pop3", Pop3Kind::Pop3),
            (l.pop3s, "pop3s", Pop3Kind::Pop3s),
        ] {
            let Some(addr) = addr else { continue };
            let bound = listener::bind(addr, key).await?;
            let local = bound.local_addr()?;
            println!("{key} listening on {local}");
            tracing::info!(address = %local, listener = key, "POP3 listening");
            addresses.pop3.push((key, local));
            listeners.push(pop3::listener::spawn(
                bound,
                kind,
                pop3_ctx.clone(),
                ProxyPolicy::of(&config.proxy, key),
            ));
        }
        let imap_ctx = Arc::new(ImapContext {
            limits: ConnectionLimits::new(
                config.imap.max_connections,
                config.imap.max_connections_per_ip,
            ),
            config: config.imap.clone(),
            hostname: config.hostname.clone(),
            hub: imap::hub::Hub::new(db.clone()),
            envelopes,
            dir: dir.clone(),
            tls: Some(tls.clone()),
            shutdown: shutdown.clone(),
            sessions: live.sessions.clone(),
            headroom: headroom.clone(),
            budget: budget.clone(),
            learner: config.smtp.checks.score.learn.then(|| {
                crate::policy::learn::Learner::new(
                    db.clone(),
                    counters.clone(),
                    config.smtp.checks.score.reported.window,
                )
            }),
        });
        for (addr, key, kind) in [
            (l.imap, "imap", ImapKind::Imap),
            (l.imaps, "imaps", ImapKind::Imaps),
        ] {
            let Some(addr) = addr else { continue };
            let bound = listener::bind(addr, key).await?;
            let local = bound.local_addr()?;
            println!("{key} listening on {local}");
            tracing::info!(address = %local, listener = key, "IMAP listening");
            addresses.imap.push((key, local));
            listeners.push(imap::listener::spawn(
                bound,
                kind,
                imap_ctx.clone(),
                ProxyPolicy::of(&config.proxy, key),
            ));
        }
        let cluster =
            super::cluster::start(&config, &db, http_addr, live::ask::handler(live.clone()))
                .await?;
        let given = match (given, &cluster) {
            (Some(g), _) => g,
            (None, Some(c)) => c.ownership(),
            (None, None) => queue::ownership::single_node(&db, config.queue.shards)
                .await
                .context("reading the queue's shard owners")?,
        };
        let (queue_ctx, outbound) = queue::start(
            config.queue.clone(),
            config.hostname.clone(),
            config.cluster.node_id,
            dir.clone(),
            given,
            live.outbound.clone(),
            shutdown.clone(),
        )
        .await
        .context("starting the outbound queue")?;
        tracing::info!(shards = config.queue.shards, "outbound queue running");
        let generated = config
            .tls
            .is_none()
            .then(|| (config.data_dir.clone(), config.certificate_names.clone()));
        tokio::spawn(maintenance::reload_tls(tls, generated, shutdown.clone()));
        let gc = tokio::spawn(super::reclaim::run(db.clone(), shutdown.clone()));
        let given = std::env::var("TERN_BOOTSTRAP_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        if let (false, Some(t)) = (config.dev, given) {
            // A token the deployment holds (a Kubernetes Secret): every node of a new cluster
            // may start with it at once; it is stored hashed, like any other.
            let t = tern_proto::Secret::new(t.trim().to_string());
            if t.expose().len() < 24 {
                anyhow::bail!(
                    "TERN_BOOTSTRAP_ADMIN_TOKEN: at least 24 characters (a random token, e.g. from \
                     `openssl rand -hex 32`)"
                );
            }
            if !dir.check_admin_token(t.expose()).await? {
                dir.add_admin_token(&t, "bootstrap").await?;
                tracing::info!("admin token from TERN_BOOTSTRAP_ADMIN_TOKEN added");
            }
        } else if !config.dev && dir.admin_token_count().await? == 0 {
            // Issued only once everything else started, so a start that fails does not use up
            // the one printing. Printed to the terminal only: it is not stored in clear anywhere.
            let t = token::generate();
            dir.add_admin_token(&t, "bootstrap").await?;
            println!(
                "bootstrap admin token (shown once, keep it safe): {}",
                t.expose()
            );
        }
        println!("tern ready in {} ms", started.elapsed().as_millis());
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "node ready"
        );
        Ok(Node {
            config,
            db,
            dir,
            shutdown,
            http: listener,
            addresses,
            listeners,
            smtp_ctx,
            pop3_ctx,
            imap_ctx,
            queue_ctx,
            outbound,
            gc,
            limits,
            headroom,
            cluster,
            live,
        })
    }

    /// Where the node listens.
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// The outbound queue's shared state (what it holds, its store).
    pub fn queue(&self) -> Arc<QueueContext> {
        self.queue_ctx.clone()
    }

    /// The node's shutdown switch: triggering it makes [`Node::run`] drain and return.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves the admin API until shutdown is triggered, then drains: listeners stop, sessions are
    /// told to finish and get what is left of the grace period, the queue and maintenance stop.
    pub async fn run(self) -> anyhow::Result<()> {
        let Node {
            config,
            db,
            dir,
            shutdown,
            http,
            addresses,
            listeners,
            smtp_ctx,
            pop3_ctx,
            imap_ctx,
            queue_ctx,
            outbound,
            gc,
            limits,
            headroom,
            cluster,
            live,
        } = self;
        let Some(tls) = smtp_ctx.tls.clone() else {
            anyhow::bail!("the node was built without its certificate");
        };
        let doctor = Arc::new(crate::doctor::Doctor {
            dir: dir.clone(),
            hostname: config.hostname.clone(),
            data_dir: config.data_dir.clone(),
            floor: config.storage_floor,
            dns_server: config.queue.dns_server,
            tls,
            queue: queue_ctx.clone(),
            cluster: cluster.clone(),
            listeners: addresses
                .smtp
                .iter()
                .chain(&addresses.imap)
                .chain(&addresses.pop3)
                .copied()
                .collect(),
            public_addresses: config.queue.public_addresses.clone(),
            blocklists: config.queue.blocklists.clone(),
        });
        tokio::spawn(crate::tracking::expire(db.clone(), shutdown.clone()));
        if let Some((interval, every)) = config.notices {
            tokio::spawn(crate::notices::run(
                crate::notices::Notices {
                    doctor: doctor.clone(),
                    postmaster: config.smtp.postmaster.clone(),
                    node: format!("node-{}", config.cluster.node_id),
                    interval,
                    every,
                },
                shutdown.clone(),
            ));
        }
        let app = admin::router(admin::AppState {
            dir,
            queue: queue_ctx.clone(),
            headroom,
            max_message_bytes: config.smtp.max_message_bytes,
            backups: Default::default(),
            hub: imap_ctx.hub.clone(),
            cluster: cluster.clone(),
            shutdown: shutdown.clone(),
            doctor,
            live,
            spam: admin::SpamDefaults {
                thresholds: tern_store::model::spam_thresholds::Thresholds {
                    junk: Some(config.smtp.checks.score.junk),
                    reject: Some(config.smtp.checks.score.reject),
                },
                rules: config
                    .smtp
                    .checks
                    .score
                    .rules
                    .iter()
                    .map(|r| r.name.clone())
                    .collect(),
            },
        });
        // The admin endpoint outlives the drain, so probes see `/readyz` fail and `ternctl`
        // still reaches the node; it stops last.
        let http_stop = Shutdown::new();
        let server = axum::serve(http, app).with_graceful_shutdown(http_stop.wait());
        let server = tokio::spawn(async move { server.await });
        shutdown.wait().await;
        tracing::info!(
            grace_seconds = config.shutdown_grace.as_secs(),
            "draining: not ready, listeners closed, sessions told to finish"
        );
        // Everything left gets one grace period in all: no slow client or stuck task holds the
        // node past it (what is still running then is dropped when the process exits).
        let deadline = tokio::time::Instant::now() + config.shutdown_grace;
        let hand_off = cluster
            .clone()
            .map(|c| tokio::spawn(hand_off(c, config.cluster.node_id, deadline)));
        for l in listeners {
            let _ = tokio::time::timeout_at(deadline, l).await;
        }
        // Sessions were told to finish (421); give in-flight ones what is left of the grace.
        let drained = tokio::time::timeout_at(deadline, async {
            while smtp_ctx.limits.active() + pop3_ctx.limits.active() + imap_ctx.limits.active() > 0
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                smtp = smtp_ctx.limits.active(),
                pop3 = pop3_ctx.limits.active(),
                imap = imap_ctx.limits.active(),
                "sessions still open after the grace period"
            );
        }
        if tokio::time::timeout_at(deadline, outbound).await.is_err() {
            tracing::warn!("the outbound queue did not stop within the grace period");
        }
        // Each delivery under way ends (its worker takes no other), so the remote's answer is
        // committed rather than the message sent again after the restart.
        let delivered = tokio::time::timeout_at(deadline, async {
            while queue_ctx.deliveries_running() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if delivered.is_err() {
            tracing::warn!(
                running = queue_ctx.deliveries_running(),
                "outbound deliveries still under way after the grace period: retried after the restart"
            );
        }
        if tokio::time::timeout_at(deadline, gc).await.is_err() {
            tracing::warn!("background maintenance did not stop within the grace period");
        }
        if tokio::time::timeout_at(deadline, limits).await.is_err() {
            tracing::warn!("rate-limit counters not flushed within the grace period");
        }
        if let Some(h) = hand_off {
            let _ = tokio::time::timeout_at(deadline, h).await;
        }
        http_stop.trigger();
        match tokio::time::timeout_at(deadline, server).await {
            Ok(Ok(result)) => result.context("admin HTTP server")?,
            Ok(Err(e)) => tracing::error!(error = %e, "admin HTTP server task failed"),
            Err(_) => tracing::warn!("admin HTTP connections still open after the grace period"),
        }
        if let Some(c) = cluster
            && tokio::time::timeout_at(deadline, c.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("raft did not stop within the grace period");
        }
        drop(db);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Hands this member's queue shards to the others before it stops (a cluster drain of itself),
/// waiting until the shard map gives it none, at most until `deadline`. The last active member,
/// or one that cannot reach a leader, keeps its shards: the others take them once it is down.
async fn hand_off(
    cluster: Arc<tern_cluster::node::Cluster>,
    id: u64,
    deadline: tokio::time::Instant,
) {
    let owned = || {
        cluster
            .status()
            .members
            .iter()
            .find(|m| m.id == id)
            .map_or(0, |m| m.shards)
    };
    if owned() == 0 {
        return;
    }
    let asked =
        tokio::time::timeout_at(deadline, cluster.admin(tern_cluster::rpc::Admin::Drain(id))).await;
    match asked {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            tracing::info!(node = id, reason = %why, "shards not handed off before stopping");
            return;
        }
        Err(_) => return,
    }
    let started = std::time::Instant::now();
    while owned() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(
        node = id,
        left = owned(),
        ms = started.elapsed().as_millis() as u64,
        "queue shards handed off before stopping"
    );
}

//! `tern serve`: opens the store, prepares certificates and fixtures, runs the HTTP endpoint
//! and background maintenance until SIGTERM/SIGINT, then drains and closes the store.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use tern_store::{
    Db, EmbeddedOptions, EmbeddedStore, blob,
    model::{AddressPolicy, Directory, token},
};
use tokio::net::TcpListener;

use crate::{
    admin,
    config::{Backend, Config},
    dev,
    headroom::Headroom,
    imap::{self, ImapContext, ListenerKind as ImapKind},
    metrics,
    net::{budget::Budget, descriptors, limits::ConnectionLimits, listener},
    pop3::{self, ListenerKind as Pop3Kind, Pop3Context},
    queue,
    shutdown::{self, Shutdown},
    smtp::{self, ListenerKind, SmtpContext},
    tls::{self, TlsConfig},
};

/// How often unreferenced blobs and abandoned uploads are collected.
const GC_INTERVAL: Duration = Duration::from_secs(600);
/// How often the certificate files are checked for renewal.
const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

async fn open_store(config: &Config) -> anyhow::Result<Db> {
    match &config.backend {
        Backend::Embedded => {
            let path = config.data_dir.join("store");
            let options = EmbeddedOptions {
                reserve_bytes: config.store_reserve_bytes,
                ..EmbeddedOptions::default()
            };
            let store = EmbeddedStore::open_with(&path, options)
                .with_context(|| format!("opening the embedded store in {}", path.display()))?;
            Ok(Db::new(store))
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres {
            url,
            ca_file,
            pool_size,
            connect_timeout,
            statement_timeout,
        } => {
            let options = tern_store::postgres::PgOptions {
                url: url.clone(),
                pool_size: *pool_size,
                connect_timeout: *connect_timeout,
                statement_timeout: *statement_timeout,
                ca_file: ca_file.clone(),
            };
            // The error names store.postgres_url and the server, never the password.
            let store = tern_store::postgres::PgStore::open(options)
                .await
                .context("opening the postgres store")?;
            Ok(Db::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres { .. } => {
            anyhow::bail!(
                "store.backend = \"postgres\" needs a tern built with `--features postgres`"
            )
        }
        #[cfg(feature = "fdb")]
        Backend::Fdb { cluster_file } => {
            // SAFETY: the node starts the FoundationDB client once, here, and keeps the store
            // (which owns the network guard) until it exits.
            #[allow(unsafe_code)]
            let store = unsafe { tern_store::fdb::FdbStore::open(cluster_file.as_deref()) }
                .context("opening FoundationDB")?;
            Ok(Db::new(store))
        }
        #[cfg(not(feature = "fdb"))]
        Backend::Fdb { .. } => {
            anyhow::bail!("store.backend = \"fdb\" needs a tern built with `--features fdb`")
        }
    }
}

/// Runs the node until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    metrics::init();
    crate::password_check::configure_cache(config.login_cache_ttl, config.login_cache_entries);
    let connections = [
        config.smtp.max_connections,
        config.imap.max_connections,
        config.pop3.max_connections,
    ];
    descriptors::prepare(connections.iter().map(|n| *n as u64).sum());
    let db = open_store(&config).await?;
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
    );

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
    println!("admin listening on http://{http_addr}");
    tracing::info!(address = %http_addr, backend = db.backend().backend(), "admin API, metrics and health checks listening");
    let shutdown = Shutdown::new();
    let tls = Arc::new(TlsConfig::load(&cert, &key)?);
    let headroom = Arc::new(Headroom::new(db.clone(), config.storage_floor));
    let budget = Budget::new(config.max_buffered_bytes);
    tracing::info!(bytes = budget.limit(), "input memory budget");
    let smtp_ctx = Arc::new(SmtpContext {
        limits: ConnectionLimits::new(
            config.smtp.max_connections,
            config.smtp.max_connections_per_ip,
        ),
        config: config.smtp.clone(),
        hostname: config.hostname.clone(),
        dir: dir.clone(),
        tls: Some(tls.clone()),
        shutdown: shutdown.clone(),
        headroom: headroom.clone(),
        budget: budget.clone(),
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
        listeners.push(smtp::listener::spawn(bound, kind, smtp_ctx.clone()));
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
        listeners.push(pop3::listener::spawn(bound, kind, pop3_ctx.clone()));
    }
    let imap_ctx = Arc::new(ImapContext {
        limits: ConnectionLimits::new(
            config.imap.max_connections,
            config.imap.max_connections_per_ip,
        ),
        config: config.imap.clone(),
        hostname: config.hostname.clone(),
        hub: imap::hub::Hub::new(db.clone()),
        dir: dir.clone(),
        tls: Some(tls.clone()),
        shutdown: shutdown.clone(),
        headroom: headroom.clone(),
        budget: budget.clone(),
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
        listeners.push(imap::listener::spawn(bound, kind, imap_ctx.clone()));
    }
    let (queue_ctx, outbound) = queue::start(
        config.queue.clone(),
        config.hostname.clone(),
        dir.clone(),
        shutdown.clone(),
    )
    .await
    .context("starting the outbound queue")?;
    tracing::info!(shards = config.queue.shards, "outbound queue running");
    let generated = config
        .tls
        .is_none()
        .then(|| (config.data_dir.clone(), config.certificate_names.clone()));
    tokio::spawn(reload_tls(tls, generated, shutdown.clone()));
    let gc = tokio::spawn(collect_garbage(db.clone(), shutdown.clone()));
    {
        let shutdown = shutdown.clone();
        let signal = shutdown::signal();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("shutdown requested, draining");
            shutdown.trigger();
        });
    }
    if !config.dev && dir.admin_token_count().await? == 0 {
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

    let app = admin::router(admin::AppState {
        dir,
        queue: queue_ctx,
        headroom,
        max_message_bytes: config.smtp.max_message_bytes,
        backups: Default::default(),
        hub: imap_ctx.hub.clone(),
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.wait());
    let server = tokio::spawn(async move { server.await });
    shutdown.wait().await;
    // Everything left gets one grace period in all: no slow client or stuck task holds the
    // node past it (what is still running then is dropped when the process exits).
    let deadline = tokio::time::Instant::now() + config.shutdown_grace;
    match tokio::time::timeout_at(deadline, server).await {
        Ok(Ok(result)) => result.context("admin HTTP server")?,
        Ok(Err(e)) => tracing::error!(error = %e, "admin HTTP server task failed"),
        Err(_) => tracing::warn!("admin HTTP connections still open after the grace period"),
    }
    for l in listeners {
        let _ = tokio::time::timeout_at(deadline, l).await;
    }
    // Sessions were told to finish (421); give in-flight ones what is left of the grace.
    let drained = tokio::time::timeout_at(deadline, async {
        while smtp_ctx.limits.active() + pop3_ctx.limits.active() + imap_ctx.limits.active() > 0 {
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
        tracing::warn!("outbound deliveries did not stop within the grace period");
    }
    if tokio::time::timeout_at(deadline, gc).await.is_err() {
        tracing::warn!("background maintenance did not stop within the grace period");
    }
    drop(db);
    tracing::info!("stopped");
    Ok(())
}

/// Picks up changed certificate files; renews the generated certificate (data directory and
/// host name given) a month before it ends.
async fn reload_tls(
    tls: Arc<TlsConfig>,
    generated: Option<(std::path::PathBuf, Vec<String>)>,
    shutdown: Shutdown,
) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(TLS_RELOAD_INTERVAL) => {
                if let Some((dir, names)) = &generated
                    && let Err(e) = tls::renew_if_due(dir, names)
                {
                    tracing::error!(error = %format!("{e:#}"), "renewing the generated certificate failed");
                }
                tls.reload_if_changed();
            }
        }
    }
}

async fn collect_garbage(db: Db, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(GC_INTERVAL) => {}
        }
        match blob::collect_garbage(&db, blob::PENDING_TTL).await {
            Ok(stats) => tracing::info!(
                abandoned = stats.abandoned_uploads,
                unreferenced = stats.unreferenced,
                "blob collection pass"
            ),
            Err(e) => tracing::error!(error = %e, "blob collection failed"),
        }
        db.refresh_metrics();
    }
}

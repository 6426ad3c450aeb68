//! `tracing` setup: JSON lines in production, readable text in the dev profile, colours only on
//! a terminal. The filter can be changed while the node runs (`ternctl log level`); dependency
//! crates log at WARN unless the filter names them, and the per-session protocol trace
//! ([`crate::trace`]) is let through at DEBUG while one is switched on.

use std::{
    io::IsTerminal,
    sync::{Mutex, OnceLock},
};

use tracing_subscriber::{
    EnvFilter, Layer, Registry, fmt, layer::SubscriberExt, reload, util::SubscriberInitExt,
};

use crate::config::{LogFormat, check_log_level};

/// Dependencies that are chatty at INFO/DEBUG: held at WARN unless the filter names them.
/// rustls warns about every client that sends an IP address as SNI; that is the client's
/// business, so it is held at ERROR.
const DEPENDENCIES: [(&str, &str); 14] = [
    ("fjall", "warn"),
    ("lsm_tree", "warn"),
    ("rustls", "warn"),
    ("rustls::msgs::handshake", "error"),
    ("tokio_rustls", "warn"),
    ("hyper", "warn"),
    ("hyper_util", "warn"),
    ("h2", "warn"),
    ("axum", "warn"),
    ("tower", "warn"),
    ("hickory_proto", "warn"),
    ("hickory_resolver", "warn"),
    ("mail_auth", "warn"),
    ("ractor", "warn"),
];

/// Modules of this binary that may be named without the `tern::` prefix (`smtp=debug`).
const MODULES: [&str; 12] = [
    "smtp",
    "imap",
    "pop3",
    "queue",
    "admin",
    "net",
    "tls",
    "delivery",
    "password_check",
    "trace",
    "serve",
    "headroom",
];

/// The filter as set (by configuration, `RUST_LOG` or the admin API), before the dependency
/// defaults and the trace are added.
struct State {
    filter: String,
    trace_on: bool,
}

type Handle = reload::Handle<EnvFilter, Registry>;

static HANDLE: OnceLock<Handle> = OnceLock::new();
static STATE: Mutex<State> = Mutex::new(State {
    filter: String::new(),
    trace_on: false,
});

/// `smtp=debug` → `tern::smtp=debug`; other directives unchanged.
fn expand(filter: &str) -> String {
    filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| match d.split_once('=') {
            Some((target, level)) if MODULES.contains(&target.trim()) => {
                format!("tern::{}={}", target.trim(), level.trim())
            }
            _ => d.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The filter the subscriber runs: the one set, dependency defaults it does not override,
/// and the trace target while a trace is on.
fn effective(state: &State) -> String {
    let mut out = state.filter.clone();
    let named: Vec<&str> = state
        .filter
        .split(',')
        .filter_map(|d| d.split_once('=').map(|(t, _)| t.trim()))
        .collect();
    for (target, level) in DEPENDENCIES {
        if !named
            .iter()
            .any(|n| *n == target || target.starts_with(&format!("{n}::")))
        {
            out.push_str(&format!(",{target}={level}"));
        }
    }
    if state.trace_on {
        out.push_str(",tern::trace=debug");
    }
    out
}

fn apply(state: &State) {
    if let Some(handle) = HANDLE.get() {
        let _ = handle.reload(EnvFilter::new(effective(state)));
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces the configured level.
pub fn init(format: LogFormat, level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| expand(level));
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.filter = filter;
    let (filter, handle) = reload::Layer::new(EnvFilter::new(effective(&state)));
    let base = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let output = match format {
        LogFormat::Json => base.json().with_current_span(true).boxed(),
        LogFormat::Text => base.boxed(),
    };
    if tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set(handle);
    }
}

/// The filter as set (without the dependency defaults).
pub fn level() -> String {
    STATE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .filter
        .clone()
}

/// Replaces the filter while the node runs; returns it as it now stands.
pub fn set_level(filter: &str) -> anyhow::Result<String> {
    check_log_level(filter)?;
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.filter = expand(filter);
    apply(&state);
    Ok(state.filter.clone())
}

/// Lets the protocol trace through (or not).
pub fn set_trace(on: bool) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.trace_on = on;
    apply(&state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_modules_and_dependency_defaults() {
        assert_eq!(
            expand("info, smtp=debug,fjall=info"),
            "info,tern::smtp=debug,fjall=info"
        );
        let e = effective(&State {
            filter: "info,fjall=info,rustls=debug".into(),
            trace_on: true,
        });
        assert!(e.starts_with("info,fjall=info,rustls=debug"), "{e}");
        assert!(
            !e.contains("fjall=warn") && !e.contains("rustls::msgs::handshake"),
            "{e}"
        );
        assert!(
            e.contains("lsm_tree=warn") && e.ends_with(",tern::trace=debug"),
            "{e}"
        );
        let e = effective(&State {
            filter: "info".into(),
            trace_on: false,
        });
        assert!(
            e.contains("rustls::msgs::handshake=error") && !e.contains("tern::trace"),
            "{e}"
        );
    }
}

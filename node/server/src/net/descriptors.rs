//! File descriptors: the limit is raised to its hard maximum at start (with a loud warning when
//! even that is below what the connection limits need), and a spare descriptor is kept so that,
//! when the process runs out anyway, a waiting client is accepted and told to come back instead
//! of hanging in the listen queue.

use std::{fs::File, sync::Mutex};

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors the node needs besides client connections: listeners, the store's files,
/// outbound connections, resolvers, the admin API.
const OVERHEAD: u64 = 1024;

static SPARE: Mutex<Option<File>> = Mutex::new(None);

/// Raises the soft limit on open files to the hard limit and keeps a spare descriptor; returns
/// the limit in force. Warns (in the log and on stderr) when it is below `connections`, the
/// sum of the configured connection limits, plus what the node needs besides.
pub fn prepare(connections: u64) -> u64 {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let limit = match maximum {
        Some(hard) if current.is_none_or(|soft| soft < hard) => {
            match setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(hard),
                    maximum: Some(hard),
                },
            ) {
                Ok(()) => hard,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot raise the open-files limit");
                    current.unwrap_or(hard)
                }
            }
        }
        _ => current.or(maximum).unwrap_or(u64::MAX),
    };
    let needed = connections.saturating_add(OVERHEAD);
    if limit < needed {
        let advice = format!(
            "the open-files limit is {limit}, below the {needed} the configured connection \
             limits need: raise it (LimitNOFILE= in the systemd unit, ulimit -n, or the \
             container's nofile ulimit) or lower max_connections; past it new clients are \
             turned away"
        );
        tracing::warn!(limit, needed, "{advice}");
        eprintln!("tern: warning: {advice}");
    } else {
        tracing::info!(limit, needed, "open-files limit");
    }
    *SPARE.lock().expect("spare lock") = File::open("/dev/null").ok();
    limit
}

/// Whether an accept error means the process (or system) is out of descriptors.
pub fn exhausted(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

/// Runs `f` with the spare descriptor given back to the system, then takes it again: `f` can
/// accept one connection, refuse it and close it. (When the spare could not be taken back last
/// time, `f` runs on whatever descriptor sessions have freed since.)
pub async fn with_spare<T>(f: impl AsyncFnOnce() -> T) -> T {
    drop(SPARE.lock().expect("spare lock").take());
    let out = f().await;
    *SPARE.lock().expect("spare lock") = File::open("/dev/null").ok();
    out
}

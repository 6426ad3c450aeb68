//! Credential checks for every protocol, in one place. The login is looked up, then Argon2id
//! runs off the async threads in fair per-address shares of as many slots as cores (19 MiB and
//! a core per check: more at once only queue on the CPU). An unknown login, or a bare local
//! part that matches several accounts, costs the same as a wrong password (a dummy hash is
//! verified) and is refused the same way, so neither timing nor answer tells a client which
//! accounts exist; protocols answer a failed bare local part with [`FULL_ADDRESS_HINT`] whatever
//! the directory holds. A verified-credential cache ([`cache`]) spares a client that logs in
//! again with the right password (webmail opens a session per click) another Argon2id run. A
//! matching password whose stored hash was made at another cost than `[passwords]` asks is
//! hashed again in the background and stored unless the password changed meanwhile.

mod cache;
mod fair;

use std::{
    net::IpAddr,
    sync::{Arc, LazyLock, OnceLock},
    time::{Duration, Instant},
};

use prometheus::{IntCounterVec, IntGauge, register_int_counter_vec, register_int_gauge};
use tern_proto::Secret;
use tern_store::model::{
    Account, Directory, LoginMatch, ModelError,
    password::{self, Hashing},
};

use self::{cache::CredentialCache, fair::FairPool};
use crate::limits::logins::{Admission, LoginGuard};

/// Checks of one address waiting beyond which more are refused without running.
const MAX_WAITING_PER_ADDRESS: usize = 32;

static POOL: LazyLock<Arc<FairPool>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    FairPool::new(cores, (cores / 4).max(1), MAX_WAITING_PER_ADDRESS)
});

/// A hash of a random password at the cost real ones are made at, verified for logins that
/// match no account so that they take as long as a wrong password ([`configure`] sets it).
static DUMMY: OnceLock<String> = OnceLock::new();

fn dummy_hash(hashing: Hashing) -> String {
    let random = format!("{:032x}", rand::random::<u128>());
    hashing.hash(&Secret::new(random)).unwrap_or_default()
}

fn dummy() -> String {
    DUMMY.get_or_init(|| dummy_hash(Hashing::default())).clone()
}

static REHASHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_password_rehashes_total",
        "Passwords hashed again at login because their stored hash was made at another cost \
         than [passwords] asks, by outcome (stored; skipped: the password changed meanwhile; \
         failed)",
        &["outcome"]
    )
    .expect("metric registers once")
});

static CHECKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_password_checks_total",
        "Password checks by outcome (match, mismatch, no_account, shed: refused unrun because \
         the client address has too many checks waiting)",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// The node's login protection while [`protect`]'s guard lives (held weakly: the node owns it,
/// and a stopped node's store is not kept open by it).
static GUARD: std::sync::Mutex<std::sync::Weak<LoginGuard>> =
    std::sync::Mutex::new(std::sync::Weak::new());

/// Turns on login protection with `guard` for as long as the caller keeps it.
pub fn protect(guard: &Arc<LoginGuard>) {
    *GUARD.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(guard);
}

/// The node's cache, as configured by [`configure_cache`] (off until then).
static CACHE: OnceLock<CredentialCache> = OnceLock::new();

static CACHE_LOOKUPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_login_cache_lookups_total",
        "Logins of existing accounts by whether the verified-credential cache spared the \
         password check (hit) or not (miss)",
        &["result"]
    )
    .expect("metric registers once")
});

static WAITING: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "tern_password_checks_waiting",
        "Password checks waiting for a slot"
    )
    .expect("metric registers once")
});

/// Creates the metric families at 0 and computes the dummy hash ahead of the first login.
pub fn init() {
    for outcome in ["match", "mismatch", "no_account", "shed"] {
        CHECKS.with_label_values(&[outcome]);
    }
    for result in ["hit", "miss"] {
        CACHE_LOOKUPS.with_label_values(&[result]);
    }
    for outcome in ["stored", "skipped", "failed"] {
        REHASHES.with_label_values(&[outcome]);
    }
    LazyLock::force(&WAITING);
}

/// Computes the dummy hash at the node's cost and turns the verified-credential cache on:
/// entries live `ttl`, at most `max_entries` (either 0: off). Call once at start.
pub fn configure(hashing: Hashing, ttl: Duration, max_entries: usize) {
    let _ = DUMMY.set(dummy_hash(hashing));
    let _ = CACHE.set(CredentialCache::new(ttl, max_entries));
}

/// Added to the refusal of a login without a domain, whether or not it names accounts.
pub const FULL_ADDRESS_HINT: &str = "log in with the full address";

/// What a login attempt comes to.
#[derive(Debug)]
pub enum Outcome {
    /// The password matches this account.
    Accepted(Box<Account>),
    /// Wrong password, unknown login, a bare local part of several accounts, or too many
    /// checks waiting for the client's address.
    Refused,
    /// Not checked: the client's address or the account is banned for failing too often
    /// (the message says which and for how long).
    Banned(String),
}

impl Outcome {
    /// The account, when accepted.
    pub fn account(self) -> Option<Account> {
        match self {
            Outcome::Accepted(account) => Some(*account),
            Outcome::Refused | Outcome::Banned(_) => None,
        }
    }
}

/// Checks `login` and `password` from a client at `peer`, unless login protection bans the
/// address or the account; a failure counts towards those bans, and may be answered late.
pub async fn check(
    dir: &Directory,
    peer: IpAddr,
    login: &str,
    password: Secret<String>,
) -> Result<Outcome, ModelError> {
    let found = dir.find_login(login).await?;
    let guard = GUARD.lock().unwrap_or_else(|p| p.into_inner()).upgrade();
    let guard = guard.as_deref();
    let attempt = match guard {
        Some(g) => {
            let named = match &found {
                LoginMatch::Found(account) => account.address.as_str(),
                LoginMatch::Ambiguous(_) | LoginMatch::Unknown => login,
            };
            match g.admit(dir.db(), peer, named).await? {
                Admission::Admitted(attempt) => Some(attempt),
                Admission::Banned(why) => return Ok(Outcome::Banned(why)),
            }
        }
        None => None,
    };
    let outcome = checked(dir, peer, found, password).await?;
    if let (Some(g), Some(attempt)) = (guard, &attempt) {
        match &outcome {
            Outcome::Accepted(account) => g.succeeded(peer, &account.address),
            Outcome::Refused => tokio::time::sleep(g.failed(dir.db(), attempt).await).await,
            Outcome::Banned(_) => {}
        }
    }
    Ok(outcome)
}

/// The password check itself, `found` being what the login names.
async fn checked(
    dir: &Directory,
    peer: IpAddr,
    found: LoginMatch,
    password: Secret<String>,
) -> Result<Outcome, ModelError> {
    let cache = CACHE.get();
    if let (LoginMatch::Found(account), Some(cache)) = (&found, cache) {
        if cache.contains(
            account.id,
            &account.password_hash,
            password.expose(),
            Instant::now(),
        ) {
            CACHE_LOOKUPS.with_label_values(&["hit"]).inc();
            return Ok(Outcome::Accepted(Box::new(account.clone())));
        }
        CACHE_LOOKUPS.with_label_values(&["miss"]).inc();
    }
    let presented = password.clone();
    let phc = match &found {
        LoginMatch::Found(account) => account.password_hash.clone(),
        LoginMatch::Ambiguous(_) | LoginMatch::Unknown => dummy(),
    };
    let Some(matched) = verify(peer, password, phc).await else {
        CHECKS.with_label_values(&["shed"]).inc();
        return Ok(Outcome::Refused);
    };
    let (outcome, label) = match found {
        LoginMatch::Found(account) if matched => {
            if let Some(cache) = cache {
                cache.insert(
                    account.id,
                    &account.password_hash,
                    presented.expose(),
                    Instant::now(),
                );
            }
            if dir.hashing().outdated(&account.password_hash) {
                rehash(dir.clone(), &account, presented);
            }
            (Outcome::Accepted(Box::new(account)), "match")
        }
        LoginMatch::Found(_) => (Outcome::Refused, "mismatch"),
        LoginMatch::Ambiguous(_) | LoginMatch::Unknown => (Outcome::Refused, "no_account"),
    };
    CHECKS.with_label_values(&[label]).inc();
    Ok(outcome)
}

/// Hashes `password` again at the directory's cost, off the async threads, and stores it if the
/// account still holds the hash it was verified against.
fn rehash(dir: Directory, account: &Account, password: Secret<String>) {
    let (id, old) = (account.id, account.password_hash.clone());
    tokio::spawn(async move {
        let hashing = dir.hashing();
        let outcome = match tokio::task::spawn_blocking(move || hashing.hash(&password)).await {
            Ok(Ok(new)) => dir.rehash_password(id, &old, &new).await,
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ModelError::Invalid(format!("hashing task: {e}"))),
        };
        let label = match outcome {
            Ok(true) => {
                tracing::info!(
                    account = id,
                    memory_kib = hashing.memory_kib,
                    iterations = hashing.iterations,
                    "password hashed again at the configured cost"
                );
                "stored"
            }
            Ok(false) => "skipped",
            Err(e) => {
                tracing::warn!(account = id, error = %e, "cannot store the password hashed again; the old hash stays");
                "failed"
            }
        };
        REHASHES.with_label_values(&[label]).inc();
    });
}

/// Whether `password` matches the PHC string, or `None` when `peer` has too many checks
/// waiting already.
async fn verify(peer: IpAddr, password: Secret<String>, phc: String) -> Option<bool> {
    WAITING.inc();
    let slot = POOL.acquire(peer).await;
    WAITING.dec();
    let slot = slot?;
    let matched = tokio::task::spawn_blocking(move || password::verify(&password, &phc))
        .await
        .unwrap_or(false);
    drop(slot);
    Some(matched)
}

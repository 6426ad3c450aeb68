//! Protection of logins against password guessing, for SMTP AUTH, IMAP and POP3 on every node
//! (`[security]`). Failed logins are counted per client address (IPv6: its /64) and per
//! account over a sliding window in the node's [`Counters`], so every node counts them
//! together. Past `login_delay_after` failures from an address, each further failure is
//! answered after a growing wait; at `ip_ban_after` the address is banned for `ban_seconds`
//! (every login from it refused, right password or not). At `account_ban_after` failures for
//! one account, from however many addresses, the account is banned — but only for addresses
//! that have not logged in to it successfully within `known_address_days`: a botnet guessing
//! one user's password cannot lock that user out from the places they use, while guesses from
//! new addresses stop. Bans are records in the store (`ternctl security bans` lists and lifts
//! them); when one ends or is lifted, the failures before it no longer count.

use std::{
    net::IpAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};

use prometheus::{IntCounter, IntCounterVec, register_int_counter, register_int_counter_vec};
use tern_store::{
    Db, StoreError,
    model::{
        limits::{self, Ban},
        now,
    },
};

use super::counters::Counters;
use super::network;
use crate::config::SecurityConfig;

static BANS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_login_bans_total",
        "Bans started after too many failed logins, by kind (ip, account)",
        &["kind"]
    )
    .expect("metric registers once")
});

static BANNED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_login_banned_total",
        "Logins refused unchecked because their address or account is banned, by kind",
        &["kind"]
    )
    .expect("metric registers once")
});

static DELAYED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "tern_login_delayed_total",
        "Failed logins answered after a wait because their address failed repeatedly"
    )
    .expect("metric registers once")
});

/// The subject an address is counted and banned as: itself (IPv4), its /64 (IPv6).
pub fn address_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        v6 => network(v6),
    }
}

/// What [`LoginGuard::admit`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Check the password; count a failure with [`LoginGuard::failed`].
    Admitted(Attempt),
    /// Refused unchecked: the message says why and until when.
    Banned(String),
}

/// An admitted login attempt: what its failure counts against.
#[derive(Debug)]
pub struct Attempt {
    address: String,
    address_generation: u64,
    account: String,
    account_generation: u64,
}

/// The node's login protection.
pub struct LoginGuard {
    config: SecurityConfig,
    counters: Arc<Counters>,
}

/// The generation failures count in, given the subject's ban record.
fn generation(ban: &Option<Ban>, at: i64) -> u64 {
    ban.as_ref().map_or(0, |b| {
        if b.until > at {
            b.generation
        } else {
            b.generation + 1
        }
    })
}

fn minutes_left(until: i64, at: i64) -> i64 {
    ((until - at) + 59) / 60
}

impl LoginGuard {
    /// The guard; its metrics are exported at 0 from now.
    pub fn new(config: SecurityConfig, counters: Arc<Counters>) -> Self {
        for kind in ["ip", "account"] {
            BANS.with_label_values(&[kind]);
            BANNED.with_label_values(&[kind]);
        }
        LazyLock::force(&DELAYED);
        Self { config, counters }
    }

    /// Whether a login to `account` (its address when the login names one, else the login as
    /// typed) from `peer` may be checked.
    pub async fn admit(
        &self,
        db: &Db,
        peer: IpAddr,
        account: &str,
    ) -> Result<Admission, StoreError> {
        let address = address_subject(peer);
        let account = account.trim().to_ascii_lowercase();
        let (a, acc) = (address.as_str(), account.as_str());
        let (address_ban, account_ban) = db
            .run(|tx| async move {
                Ok((
                    limits::get(&tx, "ip", a).await?,
                    limits::get(&tx, "account", acc).await?,
                ))
            })
            .await?;
        let at = now();
        if let Some(b) = address_ban.as_ref().filter(|b| b.until > at) {
            BANNED.with_label_values(&["ip"]).inc();
            return Ok(Admission::Banned(format!(
                "too many failed logins from {address}; try again in {} minutes",
                minutes_left(b.until, at)
            )));
        }
        if let Some(b) = account_ban.as_ref().filter(|b| b.until > at)
            && !self.known(peer, &account).await?
        {
            BANNED.with_label_values(&["account"]).inc();
            return Ok(Admission::Banned(format!(
                "logins to {account} are blocked after too many failed attempts; try again in \
                 {} minutes, or from an address it logged in from before",
                minutes_left(b.until, at)
            )));
        }
        Ok(Admission::Admitted(Attempt {
            address_generation: generation(&address_ban, at),
            account_generation: generation(&account_ban, at),
            address,
            account,
        }))
    }

    /// Counts a failed attempt, banning what passed its limit; how long to wait before
    /// answering.
    pub async fn failed(&self, db: &Db, attempt: &Attempt) -> Duration {
        let c = &self.config;
        let from_address = self.counters.hit(
            "login_fail_ip",
            c.window,
            &format!("{}#{}", attempt.address, attempt.address_generation),
            1,
        );
        let for_account = self.counters.hit(
            "login_fail_account",
            c.window,
            &format!("{}#{}", attempt.account, attempt.account_generation),
            1,
        );
        if from_address >= f64::from(c.ip_ban_after) {
            self.ban(
                db,
                "ip",
                &attempt.address,
                attempt.address_generation,
                from_address,
            )
            .await;
        }
        if for_account >= f64::from(c.account_ban_after) {
            self.ban(
                db,
                "account",
                &attempt.account,
                attempt.account_generation,
                for_account,
            )
            .await;
        }
        let beyond = from_address - f64::from(c.delay_after);
        if beyond <= 0.0 {
            return Duration::ZERO;
        }
        DELAYED.inc();
        c.delay_step.mul_f64(beyond).min(c.max_delay)
    }

    /// Records that `peer` logged in to `account` (its address), exempting it from a ban of
    /// the account.
    pub fn succeeded(&self, peer: IpAddr, account: &str) {
        self.counters.hit(
            "login_ok",
            self.config.known_address,
            &known_subject(peer, account),
            1,
        );
    }

    /// Whether `peer` logged in to `account` lately (read from the store: another node may have
    /// seen it).
    async fn known(&self, peer: IpAddr, account: &str) -> Result<bool, StoreError> {
        let n = self
            .counters
            .read(
                "login_ok",
                self.config.known_address,
                &known_subject(peer, account),
            )
            .await?;
        Ok(n > 0.0)
    }

    async fn ban(&self, db: &Db, kind: &str, subject: &str, generation: u64, failures: f64) {
        let at = now();
        let ban = Ban {
            kind: kind.to_string(),
            subject: subject.to_string(),
            reason: format!(
                "{failures:.0} failed logins within {} s",
                self.config.window.as_secs()
            ),
            since: at,
            until: at + self.config.ban.as_secs() as i64,
            generation,
        };
        let stored = db
            .run(|tx| {
                let ban = ban.clone();
                async move {
                    // A ban another node set for the same failures stands.
                    if limits::get(&tx, &ban.kind, &ban.subject)
                        .await?
                        .is_some_and(|b| b.generation == generation && b.until > at)
                    {
                        return Ok(false);
                    }
                    limits::put(&tx, &ban)?;
                    Ok(true)
                }
            })
            .await;
        match stored {
            Ok(true) => {
                BANS.with_label_values(&[kind]).inc();
                tracing::warn!(kind, subject, reason = %ban.reason, seconds = self.config.ban.as_secs(), "login ban started");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(kind, subject, error = %e, "login ban not stored"),
        }
    }
}

/// The subject of "`peer`'s network logged in to `account`".
fn known_subject(peer: IpAddr, account: &str) -> String {
    format!("{}|{}", account.to_ascii_lowercase(), address_subject(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_that_ended_starts_a_new_count() {
        let ban = |until, generation| {
            Some(Ban {
                kind: "ip".into(),
                subject: "192.0.2.1".into(),
                reason: String::new(),
                since: 0,
                until,
                generation,
            })
        };
        assert_eq!(generation(&None, 100), 0);
        assert_eq!(generation(&ban(200, 3), 100), 3, "in force: its own count");
        assert_eq!(
            generation(&ban(100, 3), 100),
            4,
            "over or lifted: a new count"
        );
        assert_eq!(
            address_subject("2001:db8::7".parse().expect("ip")),
            "2001:db8::/64"
        );
        assert_eq!(
            address_subject("::ffff:192.0.2.9".parse().expect("ip")),
            "192.0.2.9"
        );
        assert_eq!(minutes_left(160, 100), 1);
    }
}

//! `[security]`: protection of logins against password guessing, on every protocol and every
//! node ([`SecurityConfig`]; see [`crate::limits::logins`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::require_positive;

/// `[security]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSecurity {
    /// Seconds failed logins are counted over.
    pub login_failure_window_seconds: u64,
    /// Failures from one address (IPv6: its /64) after which each further failure waits.
    pub login_delay_after: u32,
    /// Milliseconds each failure beyond `login_delay_after` adds to the wait.
    pub login_delay_step_ms: u64,
    /// The longest wait, milliseconds.
    pub login_max_delay_ms: u64,
    /// Failures from one address after which it is banned.
    pub ip_ban_after: u32,
    /// Failures for one account (from any address) after which it is banned for addresses
    /// that have not logged in to it successfully lately.
    pub account_ban_after: u32,
    /// How long a ban lasts, seconds.
    pub ban_seconds: u64,
    /// How long an address that logged in to an account stays exempt from that account's ban,
    /// days.
    pub known_address_days: u64,
}

impl Default for RawSecurity {
    fn default() -> Self {
        Self {
            login_failure_window_seconds: 900,
            login_delay_after: 3,
            login_delay_step_ms: 500,
            login_max_delay_ms: 5000,
            ip_ban_after: 10,
            account_ban_after: 30,
            ban_seconds: 900,
            known_address_days: 30,
        }
    }
}

/// `[security]`, validated.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// The window failures are counted over.
    pub window: Duration,
    /// Failures before waits begin.
    pub delay_after: u32,
    /// The wait each further failure adds.
    pub delay_step: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// Failures from an address before it is banned.
    pub ip_ban_after: u32,
    /// Failures for an account before it is banned for unknown addresses.
    pub account_ban_after: u32,
    /// Ban length.
    pub ban: Duration,
    /// How long a successful login makes its address known to the account.
    pub known_address: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        validate(&RawSecurity::default()).expect("the defaults are valid")
    }
}

/// Validates `[security]`.
pub fn validate(r: &RawSecurity) -> anyhow::Result<SecurityConfig> {
    let positive = |key: &str, v: u64| require_positive("security", key, v);
    Ok(SecurityConfig {
        window: Duration::from_secs(positive(
            "login_failure_window_seconds",
            r.login_failure_window_seconds,
        )?),
        delay_after: r.login_delay_after,
        delay_step: Duration::from_millis(r.login_delay_step_ms),
        max_delay: Duration::from_millis(r.login_max_delay_ms),
        ip_ban_after: positive("ip_ban_after", u64::from(r.ip_ban_after))? as u32,
        account_ban_after: positive("account_ban_after", u64::from(r.account_ban_after))? as u32,
        ban: Duration::from_secs(positive("ban_seconds", r.ban_seconds)?),
        known_address: Duration::from_secs(
            positive("known_address_days", r.known_address_days)?.saturating_mul(86_400),
        ),
    })
}

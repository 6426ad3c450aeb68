//! Accounts near their quota: at 90 % of a byte or message quota new mail for them will soon
//! be refused; at 100 % it is (`552 5.2.2`, or `452 4.2.2` with temporary quota replies).

use super::{Doctor, Finding, Severity};

/// Share of a quota from which an account is reported.
const NEAR: f64 = 0.9;

/// Findings for accounts at or near a quota (none when every account has room).
pub async fn quotas(d: &Doctor) -> Vec<Finding> {
    let Ok(accounts) = d.dir.accounts().await else {
        return Vec::new(); // the store check reports it
    };
    let mut out = Vec::new();
    let mut checked = 0usize;
    for a in accounts
        .iter()
        .filter(|a| a.quota_bytes.is_some() || a.quota_messages.is_some())
    {
        let Ok(usage) = d.dir.usage(a.id).await else {
            continue;
        };
        checked += 1;
        let shares = [
            a.quota_bytes.map(|q| {
                (
                    usage.bytes.max(0) as f64 / q.max(1) as f64,
                    "bytes",
                    usage.bytes,
                    q,
                )
            }),
            a.quota_messages.map(|q| {
                (
                    usage.messages.max(0) as f64 / q.max(1) as f64,
                    "messages",
                    usage.messages,
                    q,
                )
            }),
        ];
        let Some((share, what, used, quota)) = shares
            .into_iter()
            .flatten()
            .max_by(|x, y| x.0.total_cmp(&y.0))
        else {
            continue;
        };
        if share < NEAR {
            continue;
        }
        let severity = if share >= 1.0 {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(Finding::with_severity(
            severity,
            "account.quota",
            &a.address,
            format!(
                "{} uses {used} of its {quota} {what} ({:.0} %){}",
                a.address,
                share * 100.0,
                if share >= 1.0 {
                    ": new mail for it is refused"
                } else {
                    ""
                }
            ),
            format!(
                "raise it (`ternctl account quota {}`) or have its owner delete mail",
                a.address
            ),
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok(
            "account.quota",
            "accounts",
            format!("{checked} accounts with a quota, none above 90 %"),
        ));
    }
    out
}

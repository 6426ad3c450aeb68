//! `tern check-config`'s output: the configuration as TOML that can be fed back, every secret
//! replaced by `"<redacted>"`.

use toml::Value;

use super::raw::RawConfig;

/// What secrets are shown as.
pub const REDACTED: &str = "<redacted>";

/// Whether a key holds a secret: passwords and tokens anywhere (relay and route passwords
/// included) and database URLs, which carry credentials.
fn is_secret(key: &str) -> bool {
    key.contains("password")
        || key.contains("token")
        || key.contains("secret")
        || key.ends_with("_url")
}

fn redact(value: &mut Value) {
    match value {
        Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                match v {
                    Value::String(s) if is_secret(key) && !s.is_empty() => {
                        *s = REDACTED.to_string();
                    }
                    _ => redact(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The configuration as TOML, secrets redacted.
pub fn to_toml(raw: &RawConfig) -> anyhow::Result<String> {
    let mut value = Value::try_from(raw)?;
    redact(&mut value);
    Ok(toml::to_string_pretty(&value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::queue::RawRoute;

    #[test]
    fn prints_toml_that_reads_back_with_secrets_redacted() {
        let mut raw = RawConfig::default();
        raw.server.hostname = "mx.example.org".into();
        raw.queue.relay_host = "relay.example.net:587".into();
        raw.queue.relay_username = "tern".into();
        raw.queue.relay_password = "relay-s3cret".into();
        raw.queue.routes.insert(
            "example.net".into(),
            RawRoute {
                host: "mx.example.net:25".into(),
                tls: "starttls".into(),
                username: "u".into(),
                password: "route-s3cret".into(),
                retry_intervals_seconds: String::new(),
            },
        );
        let text = to_toml(&raw).expect("toml");
        assert!(!text.contains("s3cret"), "{text}");
        let back: RawConfig = toml::from_str(&text).expect("reads back");
        assert_eq!(back.queue.relay_password, REDACTED);
        assert_eq!(back.queue.routes["example.net"].password, REDACTED);
        assert_eq!(back.queue.relay_username, "tern");
        assert_eq!(back.server.hostname, "mx.example.org");
    }
}

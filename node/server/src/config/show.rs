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

#[cfg(test)]
mod example {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::RawConfig;
    use crate::config::{Config, queue::RawRoute};

    const EXAMPLE: &str = include_str!("../../../../tern.example.toml");

    /// `section.key` of every leaf in a JSON object (nulls, i.e. unset options, included).
    fn keys(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
        if let Value::Object(map) = v {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match child {
                    Value::Object(m) if !m.is_empty() => keys(&path, child, out),
                    _ => {
                        out.insert(path);
                    }
                }
            }
        }
    }

    /// The example with its commented-out settings (`# key = value`, `# [table]`) switched on.
    fn uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|l| {
                let t = l.trim_start();
                match t.strip_prefix("# ") {
                    Some(rest)
                        if rest.starts_with('[')
                            || rest.split_once(" = ").is_some_and(|(k, _)| {
                                !k.is_empty()
                                    && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                            }) =>
                    {
                        rest.to_string()
                    }
                    _ => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_example_parses_and_documents_every_key() {
        let raw: RawConfig = toml::from_str(EXAMPLE).expect("the example parses as it is");
        assert_eq!(raw.server.hostname, "mx.example.org");
        let full: RawConfig = toml::from_str(&uncommented()).expect("and with every key on");
        assert!(full.tls.certificate.is_some() && full.store.fdb_cluster_file.is_some());

        let mut wanted = BTreeSet::new();
        keys(
            "",
            &serde_json::to_value(RawConfig::default()).expect("json"),
            &mut wanted,
        );
        wanted.remove("queue.routes");
        let route = RawRoute {
            host: String::new(),
            tls: String::new(),
            username: String::new(),
            password: String::new(),
            retry_intervals_seconds: String::new(),
        };
        keys(
            "queue.routes.*",
            &serde_json::to_value(route).expect("json"),
            &mut wanted,
        );

        let mut documented = BTreeSet::new();
        // The keys as written (not as deserialized: serde would fill in the missing ones).
        let written: toml::Value = toml::from_str(&uncommented()).expect("toml");
        let mut value = serde_json::to_value(&written).expect("json");
        if let Some(routes) = value["queue"]["routes"].as_object().cloned() {
            value["queue"]["routes"] = serde_json::json!({ "*": routes.values().next() });
        }
        keys("", &value, &mut documented);
        let missing: Vec<_> = wanted.difference(&documented).collect();
        assert!(missing.is_empty(), "tern.example.toml lacks {missing:?}");
    }

    #[test]
    fn the_defaults_in_the_example_are_the_real_ones() {
        let example: RawConfig = toml::from_str(EXAMPLE).expect("parses");
        let mut defaults = RawConfig::default();
        // What the example sets on purpose.
        defaults.server.hostname = "mx.example.org".into();
        let as_json = |c: &RawConfig| serde_json::to_value(c).expect("json");
        assert_eq!(as_json(&example), as_json(&defaults));
        // With certificate files named, it is a valid production configuration.
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "").expect("cert");
        std::fs::write(&key, "").expect("key");
        let mut with_tls = example;
        with_tls.tls.certificate = Some(cert.display().to_string());
        with_tls.tls.private_key = Some(key.display().to_string());
        Config::validate(with_tls, false).expect("valid");
    }
}

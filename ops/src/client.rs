//! The admin API client: bearer token, JSON in and out, API errors turned into readable
//! messages.

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use ureq::{Agent, Body, http::Response};

/// Talks to one node's admin API.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: Agent,
}

/// Percent-encodes one path segment (addresses may hold `+`, `%`, quotes...).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The largest answer read from the admin API.
const MAX_ANSWER_BYTES: u64 = 256 << 20;

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn auth(&self) -> anyhow::Result<String> {
        match &self.token {
            Some(t) => Ok(format!("Bearer {t}")),
            None => bail!("no admin token: set TERN_ADMIN_TOKEN or pass --token"),
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.auth()?)
            .call();
        self.finish(resp)
    }

    /// POST a JSON body.
    pub fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.auth()?)
            .send_json(body);
        self.finish(resp)
    }

    /// PUT a JSON body.
    pub fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .put(self.url(path))
            .header("Authorization", self.auth()?)
            .send_json(body);
        self.finish(resp)
    }

    /// DELETE.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .delete(self.url(path))
            .header("Authorization", self.auth()?)
            .call();
        self.finish(resp)
    }

    fn finish(&self, resp: Result<Response<Body>, ureq::Error>) -> anyhow::Result<Value> {
        let mut resp =
            resp.with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = resp.status();
        // Backup chunks and export pages are several MiB of base64: more than ureq's 10 MB
        // default. A body that cannot be read is an error, never an empty answer.
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .with_context(|| {
                format!("reading the admin API's answer (HTTP {})", status.as_u16())
            })?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        Err(anyhow!("{message} (HTTP {})", status.as_u16()))
    }
}

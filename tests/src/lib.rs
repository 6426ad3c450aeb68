//! Helpers for end-to-end tests: start real `tern` processes on 127.0.0.1:0 in a scratch
//! directory, find their ports from what they print, run `ternctl` against them.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};

pub mod backend;
pub mod bench;
pub mod certs;
pub mod clamd;
pub mod cluster;
pub mod deflate;
pub mod dkim;
pub mod dns;
pub mod gate;
pub mod imap;
pub mod inproc;
pub mod outbound;
pub mod peer;
pub mod pop3;
pub mod prometheus;
pub mod smtp;
pub mod store;
pub mod stream;
pub mod tmpfs;

/// The directory holding the workspace's binaries (next to the test's own `deps/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .to_path_buf()
}

/// Path to a workspace binary. The first call in a process builds the binaries (a no-op when
/// they are current), so tests never run a stale `tern`.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "tern-server",
            "-p",
            "tern-ops",
            "--bins",
        ]);
        if bin_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build");
        assert!(status.success(), "building the tern binaries failed");
    });
    bin_dir().join(name)
}

/// `tern check-config` on a file holding `toml`: its exit status, stdout and stderr.
pub fn check_config(toml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tern.toml");
    std::fs::write(&path, toml).expect("write tern.toml");
    Command::new(bin("tern"))
        .args(["check-config", "--config", path.to_str().expect("utf8")])
        .output()
        .expect("check-config")
}

/// A running `tern serve`. Its log is echoed and kept: when it is dropped or stopped, an ERROR
/// line that the test did not announce with [`Tern::expect_error`] fails the test.
pub struct Tern {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    expected_errors: Vec<String>,
    /// The log was checked (by `stop`).
    checked: bool,
    /// Admin API address.
    pub http: SocketAddr,
    /// Lines printed on stdout up to readiness.
    pub banner: Vec<String>,
    /// Bound mail listeners by config key (`smtp`, `submission`, `submissions`).
    pub listeners: std::collections::BTreeMap<String, SocketAddr>,
    /// The working directory (holds `data/` in the dev profile).
    pub workdir: PathBuf,
    /// Time from spawn to "tern ready".
    pub startup: Duration,
}

impl Tern {
    /// Starts `tern serve` with `args` in `workdir`, admin listener on an ephemeral port.
    pub fn start(workdir: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Tern> {
        Self::start_limited(workdir, args, env, None)
    }

    /// Like [`Tern::start`], with the open-files limit (soft and hard) set to `nofile` first.
    pub fn start_limited(
        workdir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> anyhow::Result<Tern> {
        let started = Instant::now();
        let mut cmd = match nofile {
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin("tern"));
                sh
            }
            None => Command::new(bin("tern")),
        };
        cmd.arg("serve").args(args).current_dir(workdir);
        for key in [
            "HTTP",
            "SMTP",
            "SUBMISSION",
            "SUBMISSIONS",
            "IMAP",
            "IMAPS",
            "POP3",
            "POP3S",
        ] {
            cmd.env(format!("TERN_LISTENERS__{key}"), "127.0.0.1:0");
        }
        // The machines tests run on have no DNS: mail authentication ("auth", on by default
        // on the MX listener) would wait out its deadline on every message. The tests of the
        // checks turn it on with a DNS server of their own.
        cmd.env("TERN_SMTP__CHECKS__MX", "ip_lists");
        // Many tests fail logins on purpose from 127.0.0.1: login protection would slow them
        // down and then ban them. Its own tests set these.
        for key in ["IP_BAN_AFTER", "ACCOUNT_BAN_AFTER", "LOGIN_DELAY_AFTER"] {
            cmd.env(format!("TERN_SECURITY__{key}"), "1000000");
        }
        for (k, v) in backend::env_for(workdir, env)? {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning tern")?;
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("[tern] {line}");
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let mut http = None;
        let mut listeners = std::collections::BTreeMap::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| anyhow!("tern did not become ready; printed {banner:?}"))?;
            if let Some(addr) = line.strip_prefix("admin listening on http://") {
                http = Some(addr.parse().context("admin address")?);
            } else if let Some((key, addr)) = line.split_once(" listening on ") {
                listeners.insert(key.to_string(), addr.parse().context("listener address")?);
            }
            let ready = line.starts_with("tern ready");
            banner.push(line);
            if ready {
                break;
            }
        }
        let http = http.context("no admin address printed")?;
        Ok(Tern {
            child,
            log,
            expected_errors: Vec::new(),
            checked: false,
            http,
            banner,
            listeners,
            workdir: workdir.to_path_buf(),
            startup: started.elapsed(),
        })
    }

    /// `tern serve --dev` in a fresh scratch directory with a known admin token and demo
    /// password, plus extra environment.
    pub fn dev(token: &str, password: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, Tern) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = vec![
            ("TERN_DEV_ADMIN_TOKEN", token),
            ("TERN_DEV_PASSWORD", password),
        ];
        env.extend_from_slice(extra);
        let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern starts");
        (dir, tern)
    }

    /// Announces that ERROR lines containing `text` are part of the test.
    pub fn expect_error(&mut self, text: &str) {
        self.expected_errors.push(text.to_string());
    }

    /// The log lines printed so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until a log line contains `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(text)) {
                return Ok(line);
            }
            if Instant::now() > deadline {
                bail!("no log line with {text:?} within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// ERROR lines the test did not announce.
    fn unexpected_errors(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| l.contains(" ERROR ") || l.contains("\"level\":\"ERROR\""))
            .filter(|l| !self.expected_errors.iter().any(|e| l.contains(e.as_str())))
            .collect()
    }

    fn check_errors(&self) {
        let unexpected = self.unexpected_errors();
        assert!(
            unexpected.is_empty(),
            "tern logged unexpected errors:\n{}",
            unexpected.join("\n")
        );
    }

    /// A mail listener's address.
    pub fn addr(&self, key: &str) -> SocketAddr {
        *self
            .listeners
            .get(key)
            .unwrap_or_else(|| panic!("no {key} listener in {:?}", self.banner))
    }

    /// CPU seconds (user and system) the process has used.
    pub fn cpu_seconds(&self) -> Option<f64> {
        // utime and stime, fields 14 and 15 of /proc/PID/stat (after the parenthesised name),
        // in clock ticks of 1/100 s on Linux.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
    }

    /// The generated certificate (dev profile, data dir under the work dir).
    pub fn certificate(&self) -> PathBuf {
        self.workdir.join("data/tls/self-signed-cert.pem")
    }

    /// Sends SIGKILL and waits: no shutdown, no flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// GET a path on the admin API with a token, parsed as JSON.
    pub fn api(&self, token: &str, path: &str) -> anyhow::Result<serde_json::Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(format!("{}/api/v1{path}", self.url()))
            .header("Authorization", format!("Bearer {token}"))
            .call()?;
        let text = resp.body_mut().read_to_string()?;
        serde_json::from_str(&text).with_context(|| format!("{path}: {text}"))
    }

    /// PUT or POST JSON on the admin API; fails unless the status is 2xx.
    pub fn api_send(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}/api/v1{path}", self.url());
        let auth = format!("Bearer {token}");
        let mut resp = match method {
            "POST" => agent
                .post(url)
                .header("Authorization", auth)
                .send_json(body)?,
            _ => agent
                .put(url)
                .header("Authorization", auth)
                .send_json(body)?,
        };
        let status = resp.status();
        let text = resp.body_mut().read_to_string()?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// Messages in a mailbox of an account, per the admin API.
    pub fn mailbox_count(&self, token: &str, account: &str, mailbox: &str) -> anyhow::Result<i64> {
        let boxes = self.api(token, &format!("/accounts/{account}/mailboxes"))?;
        boxes
            .as_array()
            .and_then(|a| a.iter().find(|m| m["name"] == mailbox))
            .and_then(|m| m["messages"].as_i64())
            .with_context(|| format!("no mailbox {mailbox} in {boxes}"))
    }

    /// The admin API base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// GET a path on the admin port without a token.
    pub fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent.get(format!("{}{path}", self.url())).call()?;
        Ok((resp.status().as_u16(), resp.body_mut().read_to_string()?))
    }

    /// One metric's value summed over its series, from `/metrics` (see [`metric_sum`]).
    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics").expect("metrics");
        metric_sum(&body, name)
    }

    /// Waits (up to 20 s) until [`Tern::metric`] `name` is at least `want`.
    pub fn wait_metric(&self, name: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.metric(name);
            if got >= want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} stayed at {got}, not {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then wait for a clean exit; fails on unexpected ERROR lines too.
    pub fn stop(self) -> anyhow::Result<()> {
        self.terminate()?;
        self.wait_stopped(Duration::from_secs(30)).map(|_| ())
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        Ok(())
    }

    /// Waits up to `within` for a clean exit after [`Tern::terminate`]; fails on unexpected
    /// ERROR lines too. How long it took.
    pub fn wait_stopped(mut self, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(code) = self.child.try_wait()? {
                if !code.success() {
                    bail!("tern exited with {code} on SIGTERM");
                }
                let took = started.elapsed();
                // Let the log reader take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                let unexpected = self.unexpected_errors();
                if !unexpected.is_empty() {
                    bail!("tern logged unexpected errors:\n{}", unexpected.join("\n"));
                }
                self.checked = true;
                return Ok(took);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("tern did not stop within {within:?} of SIGTERM")
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.checked && !std::thread::panicking() {
            self.check_errors();
        }
    }
}

/// One metric's value summed over its series in a `/metrics` body (`name` may include the
/// labels of one series, as exported).
pub fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| {
            l.starts_with(name) && (name.ends_with('}') || l[name.len()..].starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `ternctl` against `url` with `token`.
pub fn ternctl(url: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("ternctl"));
    cmd.args(args)
        .env("TERN_ADMIN_URL", url)
        .env_remove("TERN_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("TERN_ADMIN_TOKEN", t);
    }
    cmd.output().expect("running ternctl")
}

/// stdout of a successful run, or a panic with its stderr.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "ternctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of a failed run, or a panic.
pub fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "ternctl unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

//! Helpers for end-to-end tests: start real `tern` processes on 127.0.0.1:0 in a scratch
//! directory, find their ports from what they print, run `ternctl` against them.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};

/// The directory holding the workspace's binaries (next to the test's own `deps/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .to_path_buf()
}

/// Path to a workspace binary, building the binaries once if they are missing.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "tern-server", "-p", "tern-ops", "--bins"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the tern binaries failed");
    }
    path
}

/// A running `tern serve`.
pub struct Tern {
    child: Child,
    /// Admin API address.
    pub http: SocketAddr,
    /// Lines printed on stdout up to readiness.
    pub banner: Vec<String>,
    /// Time from spawn to "tern ready".
    pub startup: Duration,
}

impl Tern {
    /// Starts `tern serve` with `args` in `workdir`, admin listener on an ephemeral port.
    pub fn start(workdir: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Tern> {
        let started = Instant::now();
        let mut cmd = Command::new(bin("tern"));
        cmd.arg("serve")
            .args(args)
            .current_dir(workdir)
            .env("TERN_LISTENERS__HTTP", "127.0.0.1:0");
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
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tern] {line}");
            }
        });
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
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| anyhow!("tern did not become ready; printed {banner:?}"))?;
            if let Some(addr) = line.strip_prefix("admin listening on http://") {
                http = Some(addr.parse().context("admin address")?);
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
            http,
            banner,
            startup: started.elapsed(),
        })
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

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(code) = self.child.try_wait()? {
                if !code.success() {
                    bail!("tern exited with {code} on SIGTERM");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("tern did not stop within 30 s of SIGTERM")
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

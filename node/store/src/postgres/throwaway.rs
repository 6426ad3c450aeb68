//! A throwaway PostgreSQL server for tests, benchmarks and trying Tern out: `initdb` into a
//! fresh directory, `postgres` on a free loopback port, removed again when dropped (kept
//! for a look at its `server.log` when `TERN_PG_KEEP` is set). It uses the
//! server binaries of the machine's PostgreSQL (Debian's `postgresql` package, or the directory
//! in `TERN_PG_BIN`); when running as root it runs them as the `postgres` user, since the server
//! refuses to run as root.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

/// Settings for a throwaway server: room for a few nodes' pools and for serializable
/// transactions that read many rows before their predicate locks coarsen.
const SETTINGS: &str = "
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 64MB
max_pred_locks_per_transaction = 1024
log_min_messages = warning
";

/// A running throwaway server; stopped and deleted on drop.
pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

fn io(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

/// The directory holding `initdb` and `pg_ctl`: `TERN_PG_BIN`, or the newest under
/// `/usr/lib/postgresql/*/bin` (Debian), or whatever `pg_config --bindir` says.
fn bin_dir() -> std::io::Result<PathBuf> {
    if let Ok(dir) = std::env::var("TERN_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output();
    match out {
        Ok(out) if out.status.success() => Ok(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )),
        _ => Err(io(
            "no PostgreSQL server binaries: install Debian's `postgresql` package or set \
             TERN_PG_BIN to the directory holding initdb and pg_ctl"
                .into(),
        )),
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl TempPostgres {
    /// Creates and starts a server; it is ready for connections when this returns.
    pub fn start() -> std::io::Result<Self> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir()?;
        let dir = std::env::temp_dir().join(format!(
            "tern-pg-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut pg = Self { dir, bin, port: 0 };
        pg.chown_to_postgres(&pg.dir)?;
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "tern",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let conf = pg.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(SETTINGS);
        text.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            pg.dir.display()
        ));
        std::fs::write(&conf, text)?;
        let mut last = None;
        for _ in 0..5 {
            pg.port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            match pg.start_again() {
                Ok(()) => {
                    pg.watch_parent();
                    return Ok(pg);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io("postgres did not start".into())))
    }

    /// `postgres://tern@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://tern@127.0.0.1:{}/postgres", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts the server accepting TCP connections only over TLS, with this certificate
    /// chain and key (PEM): plain connections are then rejected by the server itself.
    pub fn require_tls(&self, cert_pem: &str, key_pem: &str) -> std::io::Result<()> {
        let data = self.data();
        std::fs::write(data.join("server.crt"), cert_pem)?;
        std::fs::write(data.join("server.key"), key_pem)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )?;
        self.chown_to_postgres(&data)?;
        self.stop()?;
        self.start_again()
    }

    /// Stops the server at once, as a crash would (clients see their connections drop).
    pub fn stop(&self) -> std::io::Result<()> {
        self.pg_ctl(&["stop", "-m", "immediate"])
    }

    /// Starts the server again on the same port with the same data, after [`Self::stop`].
    pub fn start_again(&self) -> std::io::Result<()> {
        let log = self.dir.join("server.log");
        let port = format!("-p {}", self.port);
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-o",
            &port,
            "-l",
            &log.display().to_string(),
        ])
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            io(format!("{e}; server log: {}", tail.join(" | ")))
        })
    }

    /// Stops the server and removes its directory once this process is gone, however it ends
    /// (a test killed by a timeout never runs `Drop`, and statics are never dropped).
    fn watch_parent(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let as_postgres = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let remove = if std::env::var_os("TERN_PG_KEEP").is_none() {
            format!("rm -rf '{}'", self.dir.display())
        } else {
            String::new()
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {as_postgres}'{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; {remove}",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = self.data().display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> std::io::Result<()> {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all).map(|_| ())
    }

    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command.args(args).current_dir(&self.dir).output()?;
        if !out.status.success() {
            return Err(io(format!(
                "{program} {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out)
    }

    fn chown_to_postgres(&self, path: &Path) -> std::io::Result<()> {
        if !is_root() {
            return Ok(());
        }
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .output()?;
        if !out.status.success() {
            return Err(io(format!(
                "chown {} to the postgres user: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
        if std::env::var_os("TERN_PG_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

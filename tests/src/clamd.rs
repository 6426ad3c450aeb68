//! A real `clamd` (Debian's clamav-daemon) for the anti-virus tests, started on a unix socket
//! in a temporary directory with a signature database the test writes (no signature download
//! is possible here): [`SIGNATURE_TEXT`] anywhere in a message is malware named
//! [`SIGNATURE_NAME`].

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// Bytes the test database flags.
pub const SIGNATURE_TEXT: &str = "TERN-TEST-VIRUS-4f1c2d";
/// The name clamd gives them (custom databases are `.UNOFFICIAL`).
pub const SIGNATURE_NAME: &str = "TernTestSignature.UNOFFICIAL";

/// A running clamd; stopped when dropped.
pub struct Clamd {
    /// Its unix socket.
    pub socket: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Clamd {
    /// Starts clamd with the test database and waits until it answers PING.
    pub fn start() -> anyhow::Result<Clamd> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("db");
        std::fs::create_dir(&db)?;
        let hex: String = SIGNATURE_TEXT.bytes().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            db.join("tern.ndb"),
            format!("TernTestSignature:0:*:{hex}\n"),
        )?;
        let socket = dir.path().join("clamd.sock");
        let config = dir.path().join("clamd.conf");
        std::fs::write(
            &config,
            format!(
                "Foreground yes\nDatabaseDirectory {}\nLocalSocket {}\nLogFile {}\n",
                db.display(),
                socket.display(),
                dir.path().join("clamd.log").display()
            ),
        )?;
        let child = Command::new("clamd")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting clamd (Debian package clamav-daemon)")?;
        let mut clamd = Clamd {
            socket,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if clamd.ping() {
                return Ok(clamd);
            }
            if let Some(status) = clamd.child.try_wait()? {
                bail!("clamd exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("clamd did not answer PING within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(&self.socket) else {
            return false;
        };
        let mut answer = Vec::new();
        s.write_all(b"zPING\0").is_ok()
            && s.read_to_end(&mut answer).is_ok()
            && answer.starts_with(b"PONG")
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

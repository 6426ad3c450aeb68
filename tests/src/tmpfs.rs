//! A small tmpfs mounted for one test, to run a store or a node on a disk that fills up. Needs
//! root (CI runs as root); elsewhere the caller skips with the printed reason.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

/// A mounted tmpfs, unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB, or says why it cannot and returns `None`.
    pub fn mount(mib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs here (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem with a file until the disk is full, keeping `spare` bytes free;
    /// returns the file, whose removal gives the space back.
    pub fn fill(&self, spare: u64) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("filler-{}", rand::random::<u32>()));
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0x5a; 64 * 1024];
        loop {
            let free = tern_store::space::Space::of(self.dir.path())
                .expect("statvfs")
                .free_bytes;
            if free <= spare {
                break;
            }
            let n = (free - spare).min(chunk.len() as u64) as usize;
            if f.write_all(&chunk[..n]).and_then(|()| f.flush()).is_err() {
                break;
            }
        }
        path
    }

    /// Bytes free on it.
    pub fn free(&self) -> u64 {
        tern_store::space::Space::of(self.dir.path())
            .expect("statvfs")
            .free_bytes
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

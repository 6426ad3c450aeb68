//! Free space and inodes of the filesystem holding a local store, and the headroom rule built
//! on them: below a floor, new mail is refused before the disk is actually full.

use std::path::Path;

/// What `statvfs` says of a filesystem, as seen by an unprivileged writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Space {
    /// Bytes available to the store.
    pub free_bytes: u64,
    /// Size of the filesystem in bytes.
    pub total_bytes: u64,
    /// Inodes available.
    pub free_inodes: u64,
    /// Inodes of the filesystem (0 when it does not count them).
    pub total_inodes: u64,
}

impl Space {
    /// The filesystem holding `path`.
    pub fn of(path: &Path) -> std::io::Result<Space> {
        let s = rustix::fs::statvfs(path)?;
        let unit = s.f_frsize.max(1);
        Ok(Space {
            free_bytes: s.f_bavail.saturating_mul(unit),
            total_bytes: s.f_blocks.saturating_mul(unit),
            free_inodes: s.f_favail,
            total_inodes: s.f_files,
        })
    }

    /// Why new mail should be refused under `floor`, or `None` when there is room.
    pub fn shortage(&self, floor: &Floor) -> Option<String> {
        let bytes = floor.bytes_for(self.total_bytes);
        if self.free_bytes < bytes {
            return Some(format!(
                "{} bytes free on the data filesystem, below the floor of {bytes}",
                self.free_bytes
            ));
        }
        let inodes = self.total_inodes.saturating_mul(u64::from(floor.percent)) / 100;
        if self.total_inodes > 0 && self.free_inodes < inodes {
            return Some(format!(
                "{} inodes free on the data filesystem, below the floor of {inodes}",
                self.free_inodes
            ));
        }
        None
    }
}

/// The headroom kept free: the smaller of an absolute size and a share of the filesystem (so
/// small disks stay usable), and the same share of inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// Bytes.
    pub bytes: u64,
    /// Percent of the filesystem's size and of its inodes.
    pub percent: u8,
}

impl Default for Floor {
    fn default() -> Self {
        Floor {
            bytes: 1 << 30,
            percent: 5,
        }
    }
}

impl Floor {
    /// The byte floor on a filesystem of `total` bytes.
    pub fn bytes_for(&self, total: u64) -> u64 {
        self.bytes
            .min(total.saturating_mul(u64::from(self.percent)) / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_smaller_of_size_and_share() {
        let floor = Floor::default();
        assert_eq!(
            floor.bytes_for(100 << 30),
            1 << 30,
            "5 % of 100 GiB is more"
        );
        assert_eq!(
            floor.bytes_for(10 << 30),
            512 << 20,
            "5 % of 10 GiB is less"
        );
        let low = Space {
            free_bytes: 400 << 20,
            total_bytes: 10 << 30,
            free_inodes: 1000,
            total_inodes: 10_000,
        };
        assert!(
            low.shortage(&floor)
                .is_some_and(|s| s.contains("below the floor"))
        );
        let inodes = Space {
            free_bytes: 1 << 40,
            free_inodes: 400,
            ..low
        };
        assert!(
            inodes
                .shortage(&floor)
                .is_some_and(|s| s.contains("inodes"))
        );
        let fine = Space {
            free_bytes: 1 << 40,
            ..low
        };
        assert_eq!(fine.shortage(&floor), None);
    }

    #[test]
    fn reads_the_filesystem_of_a_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Space::of(dir.path()).expect("statvfs");
        assert!(s.total_bytes > 0 && s.free_bytes <= s.total_bytes);
    }
}

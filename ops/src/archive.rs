//! The backup format: a directory with `manifest.json` and numbered chunk files. A chunk holds
//! key/value pairs in key order, each as a 4-byte big-endian length and the bytes, key then
//! value; the manifest lists every chunk with its pair count, size and BLAKE3 checksum, and is
//! rewritten (atomically) after each chunk, so an interrupted backup knows where it stopped.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The manifest's format version.
pub const FORMAT: u32 = 1;

/// One chunk file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chunk {
    /// File name within the backup directory.
    pub file: String,
    /// Pairs in it.
    pub pairs: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// BLAKE3 of the file, hex.
    pub blake3: String,
    /// The last key in it, base64 (the cursor to resume after).
    pub last_key: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The node's backup id (the snapshot it reads).
    pub backup_id: String,
    /// Store backend it came from.
    pub backend: String,
    /// Unix seconds the snapshot was taken.
    pub created: i64,
    /// Chunks written so far.
    pub chunks: Vec<Chunk>,
    /// Whether every key was written.
    pub complete: bool,
}

impl Manifest {
    fn path(dir: &Path) -> PathBuf {
        dir.join("manifest.json")
    }

    /// The manifest in `dir`, if any.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Manifest>> {
        match std::fs::read(Self::path(dir)) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).context("manifest.json")?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("reading manifest.json"),
        }
    }

    /// Writes it atomically (temporary file, fsync, rename).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let tmp = dir.join("manifest.json.tmp");
        write_synced(&tmp, &serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, Self::path(dir)).context("replacing manifest.json")
    }

    /// Pairs in all chunks.
    pub fn pairs(&self) -> u64 {
        self.chunks.iter().map(|c| c.pairs).sum()
    }

    /// Bytes in all chunks.
    pub fn bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.bytes).sum()
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Encodes pairs as a chunk file's bytes.
pub fn encode(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

/// Decodes a chunk file's bytes.
pub fn decode(mut bytes: &[u8]) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let take = |bytes: &mut &[u8]| -> anyhow::Result<Vec<u8>> {
        if bytes.len() < 4 {
            bail!("truncated length");
        }
        let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if bytes.len() < 4 + n {
            bail!("truncated data");
        }
        let part = bytes[4..4 + n].to_vec();
        *bytes = &bytes[4 + n..];
        Ok(part)
    };
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let k = take(&mut bytes)?;
        let v = take(&mut bytes)?;
        out.push((k, v));
    }
    Ok(out)
}

/// Writes a chunk file and returns its manifest entry.
pub fn write_chunk(
    dir: &Path,
    n: usize,
    pairs: &[(Vec<u8>, Vec<u8>)],
    last_key: String,
) -> anyhow::Result<Chunk> {
    let file = format!("chunk-{n:06}.bin");
    let bytes = encode(pairs);
    write_synced(&dir.join(&file), &bytes)?;
    Ok(Chunk {
        file,
        pairs: pairs.len() as u64,
        bytes: bytes.len() as u64,
        blake3: blake3::hash(&bytes).to_hex().to_string(),
        last_key,
    })
}

/// Reads a chunk, checking its size and checksum against the manifest.
pub fn read_chunk(dir: &Path, c: &Chunk) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let bytes = std::fs::read(dir.join(&c.file)).with_context(|| format!("reading {}", c.file))?;
    if bytes.len() as u64 != c.bytes || blake3::hash(&bytes).to_hex().as_str() != c.blake3 {
        bail!(
            "{} does not match its checksum in manifest.json: the backup is damaged",
            c.file
        );
    }
    let pairs = decode(&bytes).with_context(|| format!("{} is damaged", c.file))?;
    if pairs.len() as u64 != c.pairs {
        bail!(
            "{} holds {} pairs, the manifest says {}",
            c.file,
            pairs.len(),
            c.pairs
        );
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_damage_is_caught() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pairs = vec![(b"a".to_vec(), vec![]), (b"key".to_vec(), vec![7; 300])];
        let c = write_chunk(dir.path(), 1, &pairs, "a2V5".into()).expect("write");
        assert_eq!(read_chunk(dir.path(), &c).expect("read"), pairs);
        let mut bytes = std::fs::read(dir.path().join(&c.file)).expect("read");
        bytes[10] ^= 1;
        std::fs::write(dir.path().join(&c.file), bytes).expect("write");
        let e = read_chunk(dir.path(), &c).expect_err("damaged");
        assert!(e.to_string().contains("checksum"), "{e}");
        assert!(decode(&[0, 0, 0, 5, 1]).is_err());
    }
}

//! Which store the end-to-end tests run `tern` on: the embedded default, or with
//! `TERN_TEST_STORE=postgres` a throwaway PostgreSQL per working directory (so a node stopped
//! and started again in the same directory finds its data, as it would on the embedded store).
//! A test that configures the store itself (`TERN_STORE__BACKEND` in its environment) is left
//! alone.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, LazyLock, Mutex},
};

use tern_store::postgres::throwaway::TempPostgres;

/// The servers started so far, by working directory. They live until the test process ends
/// (each stops itself then: see `TempPostgres`).
static SERVERS: LazyLock<Mutex<HashMap<PathBuf, Arc<TempPostgres>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether the tests run on PostgreSQL.
pub fn postgres() -> bool {
    std::env::var("TERN_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The throwaway server of `workdir`, started on first use.
pub fn server_for(workdir: &Path) -> anyhow::Result<Arc<TempPostgres>> {
    let mut servers = SERVERS.lock().expect("servers lock");
    if let Some(pg) = servers.get(workdir) {
        return Ok(pg.clone());
    }
    let pg = Arc::new(TempPostgres::start()?);
    servers.insert(workdir.to_path_buf(), pg.clone());
    Ok(pg)
}

/// Environment that points a node started in `workdir` at the test store.
pub fn env_for(workdir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Vec<(String, String)>> {
    if !postgres() || env.iter().any(|(k, _)| *k == "TERN_STORE__BACKEND") {
        return Ok(Vec::new());
    }
    let pg = server_for(workdir)?;
    Ok(vec![
        ("TERN_STORE__BACKEND".into(), "postgres".into()),
        ("TERN_STORE__POSTGRES_URL".into(), pg.url()),
    ])
}

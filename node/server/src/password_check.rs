//! Password checks for every protocol, off the async threads and a few at a time: Argon2id with
//! the default parameters uses 19 MiB and a core per check, so more checks at once than cores
//! only queue on the CPU and multiply that memory (an AUTH flood would otherwise take both).

use std::sync::LazyLock;

use tern_proto::Secret;
use tern_store::model::password;
use tokio::sync::Semaphore;

/// Checks at once: the number of cores.
static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    )
});

/// Whether `password` matches the stored PHC string.
pub async fn verify(password: Secret<String>, phc: String) -> bool {
    let Ok(_slot) = SLOTS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || password::verify(&password, &phc))
        .await
        .unwrap_or(false)
}

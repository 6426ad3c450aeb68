//! Runs the conformance suite against a FoundationDB cluster when `TERN_FDB_CLUSTER_FILE`
//! names one (build with `--features fdb`). The checks share one client network, so they run
//! in sequence inside one test, wiping the scratch and blob spaces between them.
#![cfg(feature = "fdb")]

use tern_store::{Db, conformance, fdb::FdbStore, keys};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_fdb() {
    let Ok(cluster) = std::env::var("TERN_FDB_CLUSTER_FILE") else {
        eprintln!("skipped: TERN_FDB_CLUSTER_FILE is not set");
        return;
    };
    // SAFETY: the only FoundationDB client start in this test process.
    #[allow(unsafe_code)]
    let store = unsafe { FdbStore::open(Some(&cluster)) }.expect("open cluster");
    let db = Db::new(store);
    let wipe = || async {
        db.run(|tx| async move {
            tx.clear_prefix(&keys::scratch::everything())?;
            tx.clear_prefix(&keys::blob::everything())
        })
        .await
        .expect("wipe");
    };
    wipe().await;
    conformance::conflicts_and_retry(&db).await;
    wipe().await;
    conformance::snapshot_and_serializable(&db).await;
    wipe().await;
    conformance::ranges(&db).await;
    wipe().await;
    conformance::atomic_add_under_concurrency(&db).await;
    wipe().await;
    conformance::read_modify_write_stress(&db).await;
    wipe().await;
    conformance::watches(&db).await;
    wipe().await;
    conformance::limits(&db).await;
    wipe().await;
    conformance::blob_chunking(&db).await;
    wipe().await;
}

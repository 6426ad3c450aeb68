//! What the in-memory session tests of every protocol start from: an embedded store in a
//! temporary directory with the domain `example.test` and the account `ann@example.test`
//! (password `ann-password`).

use tern_proto::Secret;
use tern_store::{
    Db, EmbeddedStore,
    model::{Account, AddressPolicy, Directory, NewAccount},
};

/// The store's directory (keep it while the store is used), the directory and ann's account.
pub async fn directory_with_ann() -> (tempfile::TempDir, Directory, Account) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::new(EmbeddedStore::open(tmp.path()).expect("store"));
    let dir = Directory::new(db, AddressPolicy::default());
    dir.add_domain("example.test").await.expect("domain");
    let ann = dir
        .add_account(NewAccount {
            address: "ann@example.test".into(),
            password: Secret::new("ann-password".into()),
            ..Default::default()
        })
        .await
        .expect("account");
    (tmp, dir, ann)
}

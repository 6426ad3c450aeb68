//! Tern's Store: one transactional key-value interface with FoundationDB's semantics
//! ([`Store`], [`Transaction`], the [`Db`] handle with its retry helper), its backends
//! ([`EmbeddedStore`] by default, `fdb` behind the cargo feature of that name), content-addressed
//! blobs, and the typed mail data model built on them.

mod api;
pub mod blob;
mod buffer;
pub mod clock;
mod codec;
pub mod conformance;
mod db;
mod embedded;
mod error;
#[cfg(feature = "fdb")]
pub mod fdb;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod reclaim;
pub mod space;
mod tx;
mod watch;

pub use api::{KeyValue, RangeOptions, ReadMode, Snapshot, Store, Transaction, Watch};
pub use db::Db;
pub use embedded::{EmbeddedOptions, EmbeddedStore};
pub use error::{Result, StoreError, TxError};
pub use tx::{Tx, apply_add, decode_counter};

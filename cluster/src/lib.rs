//! Cluster coordination on openraft 0.9 (`storage-v2`): the Raft types ([`types`]), the log
//! store in the node's data directory ([`log_store`]), the state machine of members, shard map
//! and settings ([`state`], [`state_machine`]), the network on the cluster port with mutual
//! TLS ([`rpc`], [`network`], [`tls`]), and a node's part in it ([`node`]: start or join,
//! the leader's duties, the queue's ownership input). Mail never goes through Raft: it lives
//! in the shared store.

// openraft's own error types are large; its traits make every storage call return them.
#![allow(clippy::result_large_err)]

mod leader;
pub mod log_store;
mod membership;
pub mod metrics;
pub mod network;
pub mod node;
pub mod rpc;
mod server;
pub mod state;
pub mod state_machine;
pub mod tls;
pub mod types;

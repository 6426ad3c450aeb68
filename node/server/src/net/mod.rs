//! What every mail listener shares: connection limits, the plain-or-TLS stream, the PROXY
//! protocol, and the accept loop that reads a trusted balancer's header, applies limits and
//! implicit TLS before handing a connection to its protocol.

pub mod actor;
pub mod budget;
pub mod conn;
pub mod deflate;
pub mod descriptors;
pub mod limits;
pub mod listener;
pub mod pace;
pub mod proxy;
pub mod stream;

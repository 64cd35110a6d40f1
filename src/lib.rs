//! js-recover: get JetStream data back from a cluster that lost Raft quorum.
//!
//! Data flows one way: [`cmd`] parses and prints, [`plan`] decides what to change, [`store`]
//! reads what is on disk.
pub mod cmd;
pub mod error;
pub mod plan;
pub mod store;

pub use error::Error;

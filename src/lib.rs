//! js-recover: get JetStream data back from a cluster that lost Raft quorum.
//!
//! Data flows one way: [`cmd`] parses and prints, [`plan`] decides what to change, [`apply`]
//! carries it out under a journal and undoes it, [`store`]
//! reads what is on disk.
pub mod apply;
pub mod clock;
pub mod cmd;
pub mod error;
pub mod memory;
pub mod par;
pub mod plan;
pub mod store;
pub mod term;
pub mod units;

pub use error::Error;

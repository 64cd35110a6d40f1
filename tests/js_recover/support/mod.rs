//! End-to-end harness: real nats-server clusters that lose quorum, and
//! standalone servers that must serve the recovered store.
//!
//! Every server is a child process owned by a guard that kills it on drop,
//! and every store lives in its own temp dir, so tests run in parallel.

#![allow(dead_code, unused_imports)] // each test uses a different part of the harness

pub mod cluster;
pub mod config;
pub mod fsutil;
pub mod load;
pub mod nats_server;
pub mod net;
pub mod observe;
pub mod replication;
pub mod scenario;
pub mod standalone;
pub mod survivor;
pub mod synthetic;

pub use cluster::{Cluster, ClusterOpts, SurvivorStop};
pub use config::{Account, Encryption, SysAccount, ACCOUNTS, ACCOUNT_A, ACCOUNT_B};
pub use nats_server::{default_version, nats_server_bin, Server, ServerSpec, DEFAULT_VERSION};
pub use observe::snapshot;
pub use scenario::{populate, AccountExpect, ConsumerExpect, Expectations, StreamExpect};
pub use standalone::{
    assert_matches, mismatches, start_standalone, verify_standalone, verify_standalone_with,
    Report, Standalone,
};
pub use survivor::{survivor, Keep, Survivor, SurvivorOpts};

//! Reading a nats-server store: its layout, `meta.inf`/`meta.sum` files and their
//! checksums, `msgs/index.db` summaries, and the Raft state. Nothing here writes, and
//! nothing here knows about plans.
pub mod checksum;
pub mod cluster;
pub mod conf;
pub mod consumer_state;
pub mod crypto;
mod error;
pub mod file;
pub mod filestore;
pub mod in_use;
pub mod index_db;
pub mod inventory;
pub mod json;
pub mod jsops;
mod layout;
pub mod meta;
pub mod raft;
pub mod report;
pub mod tail;
pub mod tree;

pub use error::StoreError;
pub use layout::{
    is_account_key, Account, Consumer, RaftGroup, RaftKind, RaftState, Store, Stream,
    JETSTREAM_DIR, RAFT_DIR,
};
pub use meta::{ChecksumState, MetaContent, MetaFile};

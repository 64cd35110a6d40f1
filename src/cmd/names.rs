//! `--server-name`: naming the servers behind the peer ids of the Raft state.

use clap::Args;

use crate::store::inventory::Names;

/// The option `inspect`, `plan` and `prepare` share for the cluster inventory.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// A server name of the lost cluster (its `server_name`), to show instead of its peer id
    /// (the id is the name's hash); repeat for each server
    #[arg(long = "server-name", value_name = "NAME")]
    pub server_names: Vec<String>,
}

impl NameArgs {
    pub fn names(&self) -> Names {
        Names::new(&self.server_names)
    }
}

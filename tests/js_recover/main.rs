//! The integration suite, one binary: CLI behaviour on the bundled example store, and
//! end-to-end scenarios against real nats-server clusters that lose quorum.

mod aged;
mod apply_cli;
mod bad_input;
mod cli;
mod crash;
mod e2e_apply;
mod e2e_encrypted;
mod e2e_five;
mod e2e_inventory;
mod e2e_plan;
mod e2e_tail;
mod faults;
mod fixtures;
mod global;
mod in_use;
mod matrix;
mod messy;
mod operator;
mod output;
mod sealed;
mod serve;
mod support;
mod survivors;

//! Planning: from a store as read, the change manifest a reviewer approves and `apply`
//! carries out.
mod build;
pub mod diff;
pub mod manifest;
mod planned;
mod recreate;
pub mod survivors;
pub mod tail;

pub use build::{plan, plan_read, plan_with, PlanError, PlanOptions, RaftView};
pub use manifest::{Change, CopyIn, Edit, Manifest, Mkdir, Remove, Summary, Warning};
pub use planned::{Kinds, Plan};

#[cfg(test)]
mod tests;

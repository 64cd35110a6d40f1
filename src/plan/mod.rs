//! Planning: from a store as read, the change manifest a reviewer approves and `apply`
//! carries out.
mod build;
pub mod diff;
pub mod manifest;
mod recreate;
pub mod tail;

pub use build::{plan, plan_with, PlanError, PlanOptions};
pub use manifest::{Change, Edit, Manifest, Mkdir, Remove, Summary, Warning};

#[cfg(test)]
mod tests;

//! Regenerates `examples/survivor`: a real survivor store of a 3-node nats-server cluster
//! that lost quorum (two nodes SIGKILLed, the third stopped cleanly).
//!
//! ```text
//! cargo run --example capture_survivor -- examples/survivor [VERSION]
//! ```
//!
//! It uses the end-to-end test harness (nats-server from PyPI, the same scenario as the
//! tests: accounts A and B, limits/interest/work-queue streams, a KV bucket, consumers with
//! and without explicit replicas, partial acks) and writes the expectations beside the
//! store as `examples/survivor.expected.json`.

#[path = "../tests/js_recover/support/mod.rs"]
mod support;

use std::path::PathBuf;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dst = PathBuf::from(args.next().unwrap_or_else(|| "examples/survivor".into()));
    let mut opts = support::SurvivorOpts::default();
    if let Some(version) = args.next() {
        opts.version = version;
    }
    if dst.exists() {
        std::fs::remove_dir_all(&dst).expect("remove the old example store");
    }
    let survivor = support::survivor(opts).await;
    survivor.copy_to(&dst);
    let expected = serde_json::to_string_pretty(&survivor.expectations).unwrap();
    std::fs::write(dst.with_extension("expected.json"), expected + "\n").unwrap();
    println!(
        "captured the store of survivor {} (nats-server {}) into `{}`",
        survivor.node,
        survivor.version,
        dst.display()
    );
}

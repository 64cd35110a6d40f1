//! Writes a generated store of N clustered streams, for timing `plan` and `apply` at scale:
//!
//! ```text
//! cargo run --release --example synthetic_store -- /tmp/big 5000 [BLOCK_BYTES]
//! ```
//!
//! Each stream is R3 with a placement and a consumer (every other one explicitly R3), has a
//! message block of BLOCK_BYTES (default 4096) and a Raft group under `$SYS/_js_`.

#[path = "../tests/js_recover/support/synthetic.rs"]
mod synthetic;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(streams)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok())) else {
        eprintln!("usage: synthetic_store DIR STREAMS [BLOCK_BYTES]");
        std::process::exit(2);
    };
    let block_bytes = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4096);
    std::fs::create_dir_all(dir).unwrap();
    synthetic::generate(
        std::path::Path::new(dir),
        &synthetic::Shape::streams(streams, block_bytes),
    );
    println!("wrote {streams} streams to {dir}");
}

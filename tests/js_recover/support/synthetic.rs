//! Generated stores for tests that need scale rather than a real server's history: many
//! streams with consumers, Raft groups, message blocks of a given size, and a mix of file
//! modes, laid out as nats-server lays out a clustered store (meta.inf JSON as the server
//! writes it, meta.sum matching, `$SYS/_js_` groups).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use js_recover::store::checksum::{consumer_key, meta_sum, stream_key};

/// Shape of a generated store.
#[derive(Debug, Clone)]
pub struct Shape {
    pub streams: usize,
    /// Bytes in each stream's message block.
    pub block_bytes: usize,
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes a store under `root` (the store_dir).
pub fn generate(root: &Path, shape: &Shape) {
    let js = root.join("jetstream");
    let block = vec![0xA5u8; shape.block_bytes];
    for i in 0..shape.streams {
        let name = format!("S{i:05}");
        // Modes vary as they do on stores copied around by hand.
        let mode = [0o600, 0o640, 0o644][i % 3];
        let dir = js.join(format!("A/streams/{name}"));
        let meta = format!(
            r#"{{"Created":"2026-11-21T12:00:00Z","name":"{name}","subjects":["s.{i}.\u003e"],"retention":"{}","max_consumers":-1,"max_msgs":-1,"storage":"file","num_replicas":3,"placement":{{"cluster":"C1","tags":["az:{}"]}},"sealed":false,"metadata":{{"_nats.req.level":"0"}}}}"#,
            ["limits", "interest", "workqueue"][i % 3],
            i % 3
        );
        write(&dir.join("meta.inf"), meta.as_bytes(), mode);
        write(
            &dir.join("meta.sum"),
            meta_sum(&stream_key(&name), meta.as_bytes()).as_bytes(),
            mode,
        );
        write(&dir.join("msgs/1.blk"), &block, 0o600);
        let consumer = format!(
            r#"{{"Created":"2026-11-21T12:00:00Z","Name":"C","durable_name":"C","name":"C","ack_policy":"explicit","num_replicas":{}}}"#,
            if i % 2 == 0 { 3 } else { 0 }
        );
        write(&dir.join("obs/C/meta.inf"), consumer.as_bytes(), 0o600);
        write(
            &dir.join("obs/C/meta.sum"),
            meta_sum(&consumer_key(&name, "C"), consumer.as_bytes()).as_bytes(),
            0o600,
        );
        write(&dir.join("obs/C/o.dat"), &[1, 2, 3], 0o600);
        let group = js.join(format!("$SYS/_js_/S-R3F-{i:05}"));
        write(&group.join("peers.idx"), b"peers", 0o600);
        write(
            &group.join("msgs/1.blk"),
            &block[..block.len().min(256)],
            0o600,
        );
    }
    write(&js.join("$SYS/_js_/_meta_/peers.idx"), b"meta", 0o600);
}

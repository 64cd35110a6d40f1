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
    /// Durable consumers per stream (`C`, `C1`, `C2`...; every other one explicitly R3).
    pub consumers: usize,
    /// Bytes of Raft log in each stream's group.
    pub wal_bytes: usize,
}

impl Shape {
    /// `streams` streams, each with one consumer and a small Raft log.
    pub fn streams(streams: usize, block_bytes: usize) -> Shape {
        Shape {
            streams,
            block_bytes,
            consumers: 1,
            wal_bytes: 256,
        }
    }
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
    let wal = vec![0x5Au8; shape.wal_bytes];
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
        for j in 0..shape.consumers {
            let c = if j == 0 {
                "C".to_string()
            } else {
                format!("C{j}")
            };
            let consumer = format!(
                r#"{{"Created":"2026-11-21T12:00:00Z","Name":"{c}","durable_name":"{c}","name":"{c}","ack_policy":"explicit","num_replicas":{}}}"#,
                if (i + j) % 2 == 0 { 3 } else { 0 }
            );
            let obs = dir.join("obs").join(&c);
            write(&obs.join("meta.inf"), consumer.as_bytes(), 0o600);
            write(
                &obs.join("meta.sum"),
                meta_sum(&consumer_key(&name, &c), consumer.as_bytes()).as_bytes(),
                0o600,
            );
            write(&obs.join("o.dat"), &[1, 2, 3], 0o600);
        }
        let group = js.join(format!("$SYS/_js_/S-R3F-{i:05}"));
        write(&group.join("peers.idx"), b"peers", 0o600);
        write(&group.join("msgs/1.blk"), &wal, 0o600);
    }
    write(&js.join("$SYS/_js_/_meta_/peers.idx"), b"meta", 0o600);
}

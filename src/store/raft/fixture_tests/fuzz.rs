//! Every decoder fed random bytes and damaged copies of real fixture files (fixed-seed
//! xorshift, so every run sees the same inputs): no panic, no hang, and every error or
//! problem names the file it is about.

use std::path::{Path, PathBuf};

use super::{files_under, Fixture, XorShift, FIXTURES};
use crate::store::filestore::{
    block_index, decode_block, read_block, BlockCipher, BlockKeys, Cipher, KeyError, ServerKeys,
};
use crate::store::raft::{
    decode_append_entry, decode_commit_index, decode_peer_state, decode_snapshot, decode_term_vote,
    read_group, GroupMeta, MetaSum,
};

/// Files of every fixture whose name satisfies `pick`, with their bytes.
fn fixture_files(pick: impl Fn(&Path) -> bool) -> Vec<(PathBuf, Vec<u8>)> {
    FIXTURES
        .iter()
        .flat_map(|f| files_under(&f.jetstream()))
        .filter(|p| pick(p))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The fixture a file belongs to (for its keys).
fn fixture_of(p: &Path) -> &'static Fixture {
    FIXTURES
        .iter()
        .find(|f| p.starts_with(f.jetstream()))
        .unwrap()
}

/// The store name and the keys of a block file: the group name under `_js_`, the stream
/// name under `<account>/streams/`.
fn store_of(p: &Path) -> (String, Option<ServerKeys>) {
    let store = p.parent().unwrap().parent().unwrap();
    let name = name_of(store);
    let f = fixture_of(p);
    let keys = if store.parent().unwrap().ends_with("_js_") {
        f.raft_keys()
    } else {
        let account = name_of(store.parent().unwrap().parent().unwrap());
        f.account_keys(&account)
    };
    (name, keys)
}

#[test]
fn fuzz_block_decoder() {
    let blocks = fixture_files(|p| block_index(&name_of(p)).is_some());
    assert!(blocks.len() > 60, "{}", blocks.len());
    let mut rng = XorShift::new(0xB10C);
    let mut decoded = 0;
    let mut runs = 0;
    for (path, bytes) in &blocks {
        let (name, keys) = store_of(path);
        let index = block_index(&name_of(path)).unwrap();
        let cipher: Option<BlockCipher> = keys.as_ref().map(|k| {
            let kf = std::fs::read(path.with_extension("key")).unwrap();
            k.block_cipher(&name, index, &kf).unwrap()
        });
        // The original reads cleanly.
        let b = read_block(path, &name, index, cipher.as_ref()).unwrap();
        assert!(
            b.problems.is_empty(),
            "{}: {:?}",
            path.display(),
            b.problems
        );
        let file = path.display().to_string();
        for _ in 0..60 {
            let input = rng.mutate(bytes);
            runs += 1;
            match decode_block(path, input, &name, index, cipher.as_ref()) {
                Ok(b) => {
                    decoded += 1;
                    for p in &b.problems {
                        assert!(p.to_string().starts_with(&file), "{p}");
                    }
                    for r in &b.records {
                        assert!(r.offset + 30 <= b.decoded_len);
                    }
                }
                Err(e) => assert!(e.to_string().starts_with(&file), "{e}"),
            }
        }
    }
    // Random blocks, some posing as compressed ones.
    let path = Path::new("/fuzz/msgs/1.blk");
    for i in 0..2000 {
        let n = rng.below(3000);
        let mut input = rng.bytes(n);
        if i % 3 == 0 {
            let mut c = b"cmp\x01".to_vec();
            c.push(rng.below(128) as u8);
            c.extend(b"\xff\x06\x00\x00S2sTwO");
            c.extend(input);
            input = c;
        }
        let cipher = BlockCipher::new(Cipher::Chacha, [1; 32], &[2; 24]).unwrap();
        runs += 1;
        match decode_block(path, input, "S", 1, (i % 5 == 0).then_some(&cipher)) {
            Ok(b) => b
                .problems
                .iter()
                .for_each(|p| assert!(p.to_string().starts_with("/fuzz/msgs/1.blk"), "{p}")),
            Err(e) => assert!(e.to_string().starts_with("/fuzz/msgs/1.blk"), "{e}"),
        }
    }
    assert!(runs > 5000 && decoded > 1000, "{runs} {decoded}");
}

#[test]
fn fuzz_append_entry_decoder() {
    // Every WAL payload of every fixture, then damaged copies and random bytes.
    let mut payloads = Vec::new();
    for f in FIXTURES {
        let keys = f.raft_keys();
        for g in f.groups() {
            let (name, _) = (name_of(&g), ());
            let store = crate::store::filestore::read_store_blocks(
                &g,
                &name,
                keys.as_ref().map(|k| k as &dyn BlockKeys),
            );
            for b in store.blocks {
                for r in b.records.into_iter().filter(|r| r.is_live()) {
                    payloads.push(r.msg);
                }
            }
        }
    }
    assert!(payloads.len() > 500, "{}", payloads.len());
    let file = Path::new("/fuzz/_meta_/msgs/1.blk");
    let mut rng = XorShift::new(0xAE);
    let mut runs = 0;
    for p in &payloads {
        decode_append_entry(file, 0, 1, p).unwrap();
        for _ in 0..8 {
            let input = rng.mutate(p);
            runs += 1;
            if let Err(e) = decode_append_entry(file, 7, 2, &input) {
                assert!(
                    e.to_string()
                        .starts_with("/fuzz/_meta_/msgs/1.blk: record at offset 7 (WAL index 2)"),
                    "{e}"
                );
            }
        }
    }
    for _ in 0..2000 {
        let n = rng.below(200);
        let mut input = rng.bytes(n);
        if input.len() > 42 {
            // A plausible entry count.
            input[40] = rng.below(4) as u8;
            input[41] = 0;
        }
        runs += 1;
        if let Err(e) = decode_append_entry(file, 0, 1, &input) {
            assert!(e.to_string().starts_with("/fuzz/_meta_/msgs/1.blk"), "{e}");
        }
    }
    assert!(runs > 5000, "{runs}");
}

#[test]
fn fuzz_snapshot_decoder() {
    let snaps = fixture_files(|p| name_of(p).starts_with("snap."));
    assert!(snaps.len() >= 20, "{}", snaps.len());
    let mut rng = XorShift::new(0x5AA9);
    let mut runs = 0;
    for (path, bytes) in &snaps {
        let group = name_of(path.parent().unwrap().parent().unwrap());
        let s = decode_snapshot(path, bytes, &group).unwrap();
        assert!(s.verified);
        let file = path.display().to_string();
        for _ in 0..150 {
            let input = rng.mutate(bytes);
            runs += 1;
            match decode_snapshot(path, &input, &group) {
                Ok(s) => {
                    if let Err(e) = s.peers() {
                        assert!(e.to_string().starts_with(&file), "{e}");
                    }
                    if input != *bytes {
                        // Any damage shows, unless it only touched ignored bytes (none here).
                        assert!(!s.verified || input.len() != bytes.len() || input == *bytes);
                    }
                }
                Err(e) => assert!(e.to_string().starts_with(&file), "{e}"),
            }
        }
    }
    let path = Path::new("/fuzz/snapshots/snap.1.2");
    for _ in 0..2000 {
        let n = rng.below(120);
        let mut input = rng.bytes(n);
        if input.len() > 20 {
            input[17..20].fill(0);
        }
        runs += 1;
        match decode_snapshot(path, &input, "G") {
            Ok(s) => {
                let _ = s.peers();
            }
            Err(e) => assert!(e.to_string().starts_with("/fuzz/snapshots/snap.1.2"), "{e}"),
        }
    }
    assert!(runs > 5000, "{runs}");
}

#[test]
fn fuzz_small_state_files() {
    let files =
        fixture_files(|p| matches!(name_of(p).as_str(), "peers.idx" | "tav.idx" | "commit.idx"));
    assert!(files.len() > 60);
    let mut rng = XorShift::new(0x1DF);
    let mut runs = 0;
    let check = |path: &Path, input: &[u8]| {
        let file = path.display().to_string();
        let r: Result<(), String> = match name_of(path).as_str() {
            "peers.idx" => decode_peer_state(path, input)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            "tav.idx" => decode_term_vote(path, input)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            _ => decode_commit_index(path, input, "_meta_")
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = r {
            assert!(e.starts_with(&file), "{e}");
        }
    };
    for (path, bytes) in &files {
        check(path, bytes);
        for _ in 0..40 {
            runs += 1;
            check(path, &rng.mutate(bytes));
        }
    }
    for name in ["peers.idx", "tav.idx", "commit.idx"] {
        let path = PathBuf::from("/fuzz/g").join(name);
        for _ in 0..1000 {
            let n = rng.below(64);
            let mut input = rng.bytes(n);
            if name == "peers.idx" && input.len() >= 8 {
                input[5..8].fill(0);
                input[4] = rng.below(8) as u8;
            }
            runs += 1;
            check(&path, &input);
        }
    }
    assert!(runs > 5000, "{runs}");
}

#[test]
fn fuzz_meta_and_keys() {
    let mut rng = XorShift::new(0x3E7A);
    let metas = fixture_files(|p| {
        name_of(p) == "meta.inf"
            && !p.to_string_lossy().contains("chacha")
            && !p.to_string_lossy().contains("aes")
    });
    for (_, bytes) in metas.iter().take(20) {
        assert!(GroupMeta::parse(bytes, false, MetaSum::Missing).is_ok());
        for _ in 0..100 {
            let _ = GroupMeta::parse(&rng.mutate(bytes), false, MetaSum::Missing);
        }
    }
    // Damaged key files never open and never panic.
    let keys = fixture_files(|p| name_of(p).ends_with(".key"));
    assert!(keys.len() > 20);
    for (path, bytes) in &keys {
        let f = fixture_of(path);
        let (name, sk) = store_of_key(path, f);
        for _ in 0..20 {
            let input = rng.mutate(bytes);
            if name_of(path) == "meta.key" {
                let r = sk.open_meta(&name, &input, b"whatever sealed bytes");
                assert!(r.is_err());
            } else {
                let index = name_of(path).trim_end_matches(".key").parse().unwrap();
                match sk.block_cipher(&name, index, &input) {
                    Ok(_) => assert_eq!(&input, bytes, "{}", path.display()),
                    Err(KeyError::TooShort { .. } | KeyError::Seed(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
    let sk = ServerKeys::for_raft(&super::keys(b"k", None, Cipher::Chacha));
    for _ in 0..1000 {
        let n = rng.below(120);
        let input = rng.bytes(n);
        assert!(sk.block_cipher("S", 1, &input).is_err());
        assert!(sk.open_meta("S", &input, &input).is_err());
    }
}

fn store_of_key(path: &Path, f: &Fixture) -> (String, ServerKeys) {
    let dir = if name_of(path) == "meta.key" {
        path.parent().unwrap()
    } else {
        path.parent().unwrap().parent().unwrap()
    };
    let name = name_of(dir);
    let keys = if dir.parent().unwrap().ends_with("_js_") {
        f.raft_keys().unwrap()
    } else if dir.parent().unwrap().ends_with("obs") {
        // A consumer store: keyed by the account too, context "<stream>/<consumer>" (not read here).
        let account = name_of(
            dir.parent()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap(),
        );
        f.account_keys(&account).unwrap()
    } else {
        let account = name_of(dir.parent().unwrap().parent().unwrap());
        f.account_keys(&account).unwrap()
    };
    (name, keys)
}

#[test]
fn fuzz_read_group_on_damaged_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(0x6A0);
    let sources = [
        ("2.12.8-survivor", "_meta_"),
        ("2.12.8-survivor", "S-R3F-A5RXeZ43"),
        ("2.15.1", "_meta_"),
        ("2.15.1-chacha", "S-R3F-97PU0N47"),
        ("2.10.26", "C-R3F-UPDvKkMF"),
    ];
    let mut runs = 0;
    for (fx, group) in sources {
        let f = Fixture::get(fx);
        let src = f.js_dir().join(group);
        let files: Vec<PathBuf> = files_under(&src);
        let dst = tmp.path().join(fx).join(group);
        super::copy_tree(&src, &dst);
        let keys = f.raft_keys();
        for _ in 0..60 {
            // Damage one file, read, restore.
            let victim = &files[rng.below(files.len())];
            let rel = victim.strip_prefix(&src).unwrap();
            let orig = std::fs::read(victim).unwrap();
            std::fs::write(dst.join(rel), rng.mutate(&orig)).unwrap();
            runs += 1;
            let g = read_group(&dst, keys.as_ref().map(|k| k as &dyn BlockKeys)).unwrap();
            for p in &g.problems {
                assert!(p.file().starts_with(&dst), "{p}");
                assert!(p.to_string().starts_with(&dst.display().to_string()), "{p}");
            }
            for w in g.wal.entries.windows(2) {
                assert!(w[0].index < w[1].index);
            }
            std::fs::write(dst.join(rel), &orig).unwrap();
        }
        let g = read_group(&dst, keys.as_ref().map(|k| k as &dyn BlockKeys)).unwrap();
        assert!(g.problems.is_empty(), "{:?}", g.problems);
    }
    assert_eq!(runs, 300);
}

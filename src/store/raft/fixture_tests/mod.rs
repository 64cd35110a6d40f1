//! The Raft readers against real stores: fixtures captured from killed nats-server
//! clusters of several releases (tests/data/raft, made by its gen.py) and js-recover's
//! example survivor, and a fuzz pass over damaged copies of them. Shared here: the fixture
//! list and a fixed-seed random source.

use std::path::{Path, PathBuf};

use crate::store::filestore::{Cipher, ServerKeys};

/// One copied `jetstream/` directory of a killed cluster node (see fixtures/README.md).
pub struct Fixture {
    /// Directory under fixtures/.
    pub dir: &'static str,
    /// nats-server version that wrote it.
    pub version: &'static str,
    /// System account (directory holding `_js_`).
    pub sys: &'static str,
    /// `jetstream { key, cipher }` of the cluster.
    pub key: Option<(&'static str, Cipher)>,
}

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        dir: "2.10.26",
        version: "2.10.26",
        sys: "$SYS",
        key: None,
    },
    Fixture {
        dir: "2.11.11",
        version: "2.11.11",
        sys: "$SYS",
        key: None,
    },
    Fixture {
        dir: "2.12.8-survivor",
        version: "2.12.8",
        sys: "$SYS",
        key: None,
    },
    Fixture {
        dir: "2.12.8-aes",
        version: "2.12.8",
        sys: "$SYS",
        key: Some(("k3y!", Cipher::Aes)),
    },
    Fixture {
        dir: "2.14.6",
        version: "2.14.6",
        sys: "SYS",
        key: None,
    },
    Fixture {
        dir: "2.15.1",
        version: "2.15.1",
        sys: "$SYS",
        key: None,
    },
    Fixture {
        dir: "2.15.1-chacha",
        version: "2.15.1",
        sys: "$SYS",
        key: Some(("s3cr3t", Cipher::Chacha)),
    },
];

pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/raft")
}

/// The operator's keys, as `--key-file`/`--prev-key-file`/`--cipher` give them.
pub fn keys(key: &[u8], prev: Option<&[u8]>, cipher: Cipher) -> crate::store::crypto::Keys {
    crate::store::crypto::Keys::new(key.to_vec(), prev.map(<[u8]>::to_vec), Some(cipher))
}

impl Fixture {
    pub fn get(dir: &str) -> &'static Fixture {
        FIXTURES
            .iter()
            .find(|f| f.dir == dir)
            .expect("known fixture")
    }

    pub fn jetstream(&self) -> PathBuf {
        if self.dir == "2.12.8-survivor" {
            // js-recover's bundled example store.
            return Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/survivor/jetstream");
        }
        fixtures_root().join(self.dir).join("jetstream")
    }

    pub fn js_dir(&self) -> PathBuf {
        self.jetstream().join(self.sys).join("_js_")
    }

    /// The group directories, sorted.
    pub fn groups(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.js_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    pub fn raft_keys(&self) -> Option<ServerKeys> {
        self.key
            .map(|(k, c)| ServerKeys::for_raft(&keys(k.as_bytes(), None, c)))
    }

    pub fn account_keys(&self, account: &str) -> Option<ServerKeys> {
        self.key
            .map(|(k, c)| ServerKeys::for_account(&keys(k.as_bytes(), None, c), account))
    }

    pub fn newer_than_2_11_5(&self) -> bool {
        !self.version.starts_with("2.10.")
    }
}

/// Every regular file under `dir` (recursively), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Copies a directory tree (regular files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// xorshift64*, fixed seed: the same inputs on every run.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// One damaged variant of `orig`: truncated, bit-flipped, overwritten, spliced, or
    /// extended.
    pub fn mutate(&mut self, orig: &[u8]) -> Vec<u8> {
        let mut b = orig.to_vec();
        match self.below(6) {
            0 => {
                let n = self.below(b.len() + 1);
                b.truncate(n);
            }
            1 | 2 => {
                if !b.is_empty() {
                    for _ in 0..1 + self.below(8) {
                        let i = self.below(b.len());
                        b[i] ^= 1 << self.below(8);
                    }
                }
            }
            3 => {
                if !b.is_empty() {
                    let i = self.below(b.len());
                    let n = 1 + self.below(16.min(b.len() - i));
                    let v = self.next_u64() as u8;
                    for x in &mut b[i..i + n] {
                        *x = if self.below(2) == 0 {
                            v
                        } else {
                            self.next_u64() as u8
                        };
                    }
                }
            }
            4 => {
                if !b.is_empty() {
                    let i = self.below(b.len());
                    if self.below(2) == 0 {
                        b.remove(i);
                    } else {
                        b.insert(i, self.next_u64() as u8);
                    }
                }
            }
            _ => {
                let n = self.below(64);
                let extra = self.bytes(n);
                b.extend(extra);
            }
        }
        b
    }
}

mod fixtures;
mod fuzz;

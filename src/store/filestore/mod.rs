//! Message block files (`msgs/<n>.blk`) of a nats-server file store, read offline.
//!
//! The Raft WAL of every group is such a store, and so is every stream, so this module is
//! shared: [`read_block`] decodes one block, [`read_store_blocks`] all blocks of a store
//! directory in index order (opening encrypted ones through [`BlockKeys`]).
//!
//! Mirrors, in server/filestore.go: `writeMsgRecordLocked` (record layout and checksum),
//! `rebuildStateLocked`/`rebuildStateFromBufLocked` and `msgFromBufEx` (reading records back,
//! sanity checks), `indexCacheBuf`, `loadBlock` + `encryptOrDecryptIfNeeded` +
//! `decompressIfNeeded` (the order: decrypt, then decompress), `CompressionInfo`
//! `MarshalMetadata`/`UnmarshalMetadata` and `StoreCompression.Decompress`, `hashKeyForBlock`,
//! the `hbit`/`ebit`/`tbit` flags. The record layout, flags and compression header are the
//! same in every release from 2.10.0 to 2.15.1 (checked by diffing those functions across the
//! release tags, and against fixtures written by 2.10.26, 2.11.11, 2.12.8, 2.14.6, 2.15.1);
//! tombstones (`tbit`) are written by more code paths in newer releases (from 2.11.2,
//! `compactLocked` writes one per message it removes from a block it keeps; 2.10.x only
//! moved the block's first sequence in memory and in `index.db`), but read the same.
//! `original_size` in the compression header is wrong in 2.11.x (see below).
//!
//! Unlike the server, which truncates a block at the first damaged record, this reader
//! reports the damage and looks for the next record that verifies (bounded work, see
//! [`RESYNC_BUDGET`]), so that intact records after a torn or flipped byte are not lost.
//!
//! ## Wire format
//!
//! A block file is, in this order of layers (outermost first):
//!
//! 1. optional encryption: the whole file XORed with the block keystream ([`cipher`]);
//! 2. optional compression header `"cmp" alg(1) uvarint(original_size)`; `alg` 0 = none
//!    (the rest is used as is), 1 = S2: the rest is an S2 *stream* (klauspost/compress/s2
//!    framing, `S2sTwO` magic, CRC-checked chunks) of every byte but the last 8, followed by
//!    those last 8 bytes uncompressed (the last record's checksum). Blocks are compressed
//!    when they are closed off, so the block being written is normally plain. No release
//!    reads `original_size`, and 2.11.x wrote the compressed length there when compressing
//!    a closed block (2.10 and 2.12+ write the decompressed length), so it is reported but
//!    not checked;
//! 3. records, back to back, little-endian:
//!
//! ```text
//! offset size
//!  0     4    rl: record length including this header and the checksum;
//!             bit 31 (hbit) set when the record has a headers section
//!  4     8    seq: sequence (the Raft index in a WAL); bit 63 (ebit) = erased/deleted,
//!             bit 62 (tbit) = tombstone: a marker that seq was removed from an earlier block
//! 12     8    ts: Unix nanoseconds
//! 20     2    slen: subject length
//! 22     slen subject
//!        [4   hlen, only with hbit]
//!        [hlen headers, only with hbit]
//!        ...  payload (up to rl - 8)
//! rl-8   8    checksum: HighwayHash-64 keyed by sha256("<store name>-<block index>") over
//!             bytes 4..20 of the header (seq, ts), the subject, the headers (without hlen)
//!             and the payload
//! ```
//!
//! The smallest record (no subject, headers or payload: erased placeholders and tombstones)
//! is 30 bytes (`emptyRecordLen`). The server refuses records with `rl` above 32 MiB
//! (`rlBadThresh`). A Raft WAL record has an empty subject, no headers, and an encoded
//! append entry as payload (see `crate::raft`).

pub mod checksum;
pub mod cipher;
pub mod keys;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use crate::store::crypto::Cipher;
pub use cipher::BlockCipher;
pub use keys::{BlockKeys, KeyError, ServerKeys};

use crate::store::file::{self as fsio, FileKind, ReadError};
use checksum::HashKey;

/// `msgHdrSize`: the fixed record header.
pub const MSG_HDR_SIZE: usize = 22;
/// `checksumSize`/`recordHashSize`.
pub const CHECKSUM_SIZE: usize = 8;
/// `emptyRecordLen`: the smallest record.
pub const EMPTY_RECORD_LEN: usize = MSG_HDR_SIZE + CHECKSUM_SIZE;
/// `hbit`: the record has headers (on `rl`).
pub const HBIT: u32 = 1 << 31;
/// `ebit`: erased or deleted (on `seq`).
pub const EBIT: u64 = 1 << 63;
/// `tbit`: tombstone (on `seq`).
pub const TBIT: u64 = 1 << 62;
/// `rlBadThresh`: the largest record length the server accepts.
pub const RL_BAD_THRESH: usize = 32 * 1024 * 1024;
/// Bytes hashed at most per block while looking for a valid record after damage.
pub const RESYNC_BUDGET: usize = 64 * 1024 * 1024;
/// Largest decompressed block accepted (blocks are at most 16 MiB, `FileStoreMaxBlkSize`).
pub const MAX_DECOMPRESSED: u64 = 256 * 1024 * 1024;
/// Most directory entries looked at in a `msgs/` directory.
pub const MAX_DIR_ENTRIES: usize = 1_000_000;

/// One record of a block, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset of the record in the decoded block (decrypted and decompressed); the file
    /// offset for a plain block.
    pub offset: usize,
    /// The sequence with the `ebit`/`tbit` flags cleared. May be 0 (the server reads a 0 as
    /// deleted).
    pub seq: u64,
    /// Unix nanoseconds.
    pub ts: i64,
    /// The subject, lossily as UTF-8.
    pub subject: String,
    pub subject_bytes: Vec<u8>,
    /// The headers section (empty without `hbit`).
    pub headers: Vec<u8>,
    pub msg: Vec<u8>,
    /// `ebit` was set: an erased or deleted message (payload may be random bytes).
    pub erased: bool,
    /// `tbit` was set: a tombstone recording that `seq` was removed.
    pub tombstone: bool,
}

impl Record {
    /// A live message: not erased, not a tombstone, sequence not 0.
    pub fn is_live(&self) -> bool {
        !self.erased && !self.tombstone && self.seq != 0
    }
}

/// The compression header of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No `cmp` header.
    None,
    /// A `cmp` header naming no compression (`alg` 0).
    Stored { original_size: u64 },
    /// S2, with the original size the header claims (2.11.x wrote the compressed size
    /// there instead; the decoded length is [`BlockContents::decoded_len`]).
    S2 { original_size: u64 },
}

/// One block read back.
#[derive(Debug)]
pub struct BlockContents {
    pub path: PathBuf,
    pub index: u32,
    /// Size of the file as read.
    pub file_len: usize,
    pub encrypted: bool,
    pub compression: Compression,
    /// Size of the records area after decryption and decompression.
    pub decoded_len: usize,
    /// Records in file order, tombstones and erased records included.
    pub records: Vec<Record>,
    /// What could not be read; the records around it still are.
    pub problems: Vec<BlockError>,
}

/// Something wrong with a block or a store directory. Each names the file and, where it
/// applies, the byte offset (into the decoded block, see [`Record::offset`]).
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{}: cannot read: {source}", file.display())]
    Read { file: PathBuf, source: ReadError },
    #[error("{}: bad compression header at offset 0: {reason}", file.display())]
    CompressionHeader { file: PathBuf, reason: String },
    #[error("{}: unknown compression algorithm {alg} (byte at offset 3)", file.display())]
    UnknownCompression { file: PathBuf, alg: u8 },
    #[error("{}: S2 data after the {header_len}-byte header does not decompress: {reason}", file.display())]
    Decompress {
        file: PathBuf,
        header_len: usize,
        reason: String,
    },
    #[error("{}: record at offset {offset} runs past the end of the block ({len} bytes): truncated", file.display())]
    Truncated {
        file: PathBuf,
        offset: usize,
        len: usize,
    },
    #[error("{}: record at offset {offset} fails sanity checks: {reason}", file.display())]
    BadRecord {
        file: PathBuf,
        offset: usize,
        reason: BadRecord,
    },
    #[error("{}: record at offset {offset} (seq {seq}) does not match its checksum", file.display())]
    Checksum {
        file: PathBuf,
        offset: usize,
        seq: u64,
    },
    #[error("{}: skipped bytes {from}..{to} to reach the next record that verifies", file.display())]
    Skipped {
        file: PathBuf,
        from: usize,
        to: usize,
    },
    #[error("{}: stopped looking for a valid record after offset {offset} (work budget spent); the rest of the block is unread", file.display())]
    ResyncBudget { file: PathBuf, offset: usize },
    #[error("{}: the block is encrypted ({} exists) and no keys were given", file.display(), key_file.display())]
    NoKeys { file: PathBuf, key_file: PathBuf },
    #[error("{}: {source}", key_file.display())]
    Key { key_file: PathBuf, source: KeyError },
    #[error("{}: is {kind}, not a regular file; skipped", file.display())]
    NotRegular { file: PathBuf, kind: FileKind },
    #[error("{}: more than {limit} entries; the rest were not looked at", dir.display())]
    TooManyEntries { dir: PathBuf, limit: usize },
}

impl BlockError {
    /// The file the problem is about.
    pub fn file(&self) -> &Path {
        match self {
            BlockError::Read { file, .. }
            | BlockError::CompressionHeader { file, .. }
            | BlockError::UnknownCompression { file, .. }
            | BlockError::Decompress { file, .. }
            | BlockError::Truncated { file, .. }
            | BlockError::BadRecord { file, .. }
            | BlockError::Checksum { file, .. }
            | BlockError::Skipped { file, .. }
            | BlockError::ResyncBudget { file, .. }
            | BlockError::NoKeys { file, .. }
            | BlockError::NotRegular { file, .. } => file,
            BlockError::Key { key_file, .. } => key_file,
            BlockError::TooManyEntries { dir, .. } => dir,
        }
    }
}

/// Reads and decodes block `index` at `path`. `name_for_checksum` is the store's name
/// (`StreamConfig.Name`: the Raft group name for a WAL, the stream name for a stream);
/// `cipher` the block's keystream when it is encrypted.
pub fn read_block(
    path: &Path,
    name_for_checksum: &str,
    index: u32,
    cipher: Option<&BlockCipher>,
) -> Result<BlockContents, BlockError> {
    let raw = fsio::read_bytes(path).map_err(|source| BlockError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    decode_block(path, raw, name_for_checksum, index, cipher)
}

/// [`read_block`] on bytes already read; `path` only names the block in errors.
pub fn decode_block(
    path: &Path,
    mut raw: Vec<u8>,
    name_for_checksum: &str,
    index: u32,
    cipher: Option<&BlockCipher>,
) -> Result<BlockContents, BlockError> {
    let file_len = raw.len();
    if let Some(c) = cipher {
        c.apply_keystream(&mut raw);
    }
    let mut problems = Vec::new();
    let (compression, buf) = decompress(path, raw)?;
    let key = HashKey::for_block(name_for_checksum, index);
    let records = parse_records(path, &buf, &key, &mut problems);
    Ok(BlockContents {
        path: path.to_path_buf(),
        index,
        file_len,
        encrypted: cipher.is_some(),
        compression,
        decoded_len: buf.len(),
        records,
        problems,
    })
}

/// `binary.Uvarint`: the value and bytes used, `None` when short or overflowing.
pub(crate) fn uvarint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    let mut s = 0u32;
    for (i, &b) in buf.iter().enumerate().take(10) {
        if b < 0x80 {
            if i == 9 && b > 1 {
                return None;
            }
            return Some((x | (u64::from(b) << s), i + 1));
        }
        x |= u64::from(b & 0x7f) << s;
        s += 7;
    }
    None
}

/// Strips the compression layer, if any (`decompressIfNeeded`).
fn decompress(path: &Path, buf: Vec<u8>) -> Result<(Compression, Vec<u8>), BlockError> {
    if buf.len() < 5 || &buf[..3] != b"cmp" {
        return Ok((Compression::None, buf));
    }
    let alg = buf[3];
    let Some((original_size, n)) = uvarint(&buf[4..]) else {
        return Err(BlockError::CompressionHeader {
            file: path.to_path_buf(),
            reason: "the original-size uvarint is incomplete".into(),
        });
    };
    let hdr = 4 + n;
    match alg {
        0 => Ok((Compression::Stored { original_size }, buf[hdr..].to_vec())),
        1 => {
            let rest = &buf[hdr..];
            if rest.len() < CHECKSUM_SIZE {
                return Err(BlockError::Decompress {
                    file: path.to_path_buf(),
                    header_len: hdr,
                    reason: format!("only {} bytes follow the header", rest.len()),
                });
            }
            let (body, trailer) = rest.split_at(rest.len() - CHECKSUM_SIZE);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut out = Vec::new();
                minlz::s2::Reader::new(body)
                    .take(MAX_DECOMPRESSED + 1)
                    .read_to_end(&mut out)
                    .map(|_| out)
            }));
            let mut out = match result {
                Ok(Ok(out)) => out,
                Ok(Err(e)) => {
                    return Err(BlockError::Decompress {
                        file: path.to_path_buf(),
                        header_len: hdr,
                        reason: e.to_string(),
                    })
                }
                Err(_) => {
                    return Err(BlockError::Decompress {
                        file: path.to_path_buf(),
                        header_len: hdr,
                        reason: "the S2 decoder failed on this input".into(),
                    })
                }
            };
            if out.len() as u64 > MAX_DECOMPRESSED {
                return Err(BlockError::Decompress {
                    file: path.to_path_buf(),
                    header_len: hdr,
                    reason: format!("decompresses to more than {MAX_DECOMPRESSED} bytes"),
                });
            }
            out.extend_from_slice(trailer);
            // original_size is not checked: 2.11.x wrote the compressed size there when
            // compressing a closed block (`atomicOverwriteFile`), and no release reads it.
            Ok((Compression::S2 { original_size }, out))
        }
        alg => Err(BlockError::UnknownCompression {
            file: path.to_path_buf(),
            alg,
        }),
    }
}

/// Where a record's parts lie, after the sanity checks and before the checksum.
struct Frame {
    rl: usize,
    seq_raw: u64,
    ts: i64,
    slen: usize,
    /// (start, len) of the headers within the record, when `hbit` is set.
    headers: Option<(usize, usize)>,
    /// Start of the payload within the record.
    msg_start: usize,
}

enum Fail {
    Overrun,
    Bad(BadRecord),
}

/// Why a record fails the server's sanity checks. Typed, not formatted: resync tries the
/// checks at every byte of a damaged block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRecord {
    #[error("length {0} is above {RL_BAD_THRESH}")]
    TooLong(usize),
    #[error("length {0} is below {EMPTY_RECORD_LEN}")]
    TooShort(usize),
    #[error("subject length {slen} does not fit in length {rl}")]
    Subject { slen: usize, rl: usize },
    #[error("subject length {slen} plus the headers length does not fit in length {rl}")]
    SubjectAndHeaders { slen: usize, rl: usize },
    #[error("headers length {hl} does not fit in length {rl}")]
    Headers { hl: usize, rl: usize },
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The sanity checks of `rebuildStateFromBufLocked` and `msgFromBufEx` on the record at `i`.
fn frame_at(buf: &[u8], i: usize) -> Result<Frame, Fail> {
    let len = buf.len();
    if len - i < MSG_HDR_SIZE {
        return Err(Fail::Overrun);
    }
    let hdr = &buf[i..i + MSG_HDR_SIZE];
    let rl_raw = le_u32(hdr, 0);
    let has_headers = rl_raw & HBIT != 0;
    let rl = (rl_raw & !HBIT) as usize;
    let slen = usize::from(u16::from_le_bytes([hdr[20], hdr[21]]));
    if rl > RL_BAD_THRESH {
        return Err(Fail::Bad(BadRecord::TooLong(rl)));
    }
    if rl < EMPTY_RECORD_LEN {
        return Err(Fail::Bad(BadRecord::TooShort(rl)));
    }
    let shlen = slen + if has_headers { 4 } else { 0 };
    let dlen = rl - MSG_HDR_SIZE;
    if shlen > dlen - CHECKSUM_SIZE {
        return Err(Fail::Bad(if has_headers {
            BadRecord::SubjectAndHeaders { slen, rl }
        } else {
            BadRecord::Subject { slen, rl }
        }));
    }
    if rl > len - i {
        return Err(Fail::Overrun);
    }
    let end = rl - CHECKSUM_SIZE; // payload end within the record
    let mut msg_start = MSG_HDR_SIZE + slen;
    let headers = if has_headers {
        let hl = le_u32(buf, i + msg_start) as usize;
        let hstart = msg_start + 4;
        if hl > end - hstart {
            return Err(Fail::Bad(BadRecord::Headers { hl, rl }));
        }
        msg_start = hstart + hl;
        Some((hstart, hl))
    } else {
        None
    };
    Ok(Frame {
        rl,
        seq_raw: le_u64(hdr, 4),
        ts: le_u64(hdr, 12) as i64,
        slen,
        headers,
        msg_start,
    })
}

fn verify(buf: &[u8], i: usize, f: &Frame, key: &HashKey) -> bool {
    let rec = &buf[i..i + f.rl];
    let end = f.rl - CHECKSUM_SIZE;
    let subj = &rec[MSG_HDR_SIZE..MSG_HDR_SIZE + f.slen];
    // Headers and payload are contiguous; only the hlen word is left out.
    let body = match f.headers {
        Some((hstart, _)) => &rec[hstart..end],
        None => &rec[MSG_HDR_SIZE + f.slen..end],
    };
    key.sum(&[&rec[4..20], subj, body]) == rec[end..f.rl]
}

fn build(buf: &[u8], i: usize, f: &Frame) -> Record {
    let rec = &buf[i..i + f.rl];
    let end = f.rl - CHECKSUM_SIZE;
    let subject_bytes = rec[MSG_HDR_SIZE..MSG_HDR_SIZE + f.slen].to_vec();
    let headers = f
        .headers
        .map(|(s, l)| rec[s..s + l].to_vec())
        .unwrap_or_default();
    Record {
        offset: i,
        seq: f.seq_raw & !(EBIT | TBIT),
        ts: f.ts,
        subject: String::from_utf8_lossy(&subject_bytes).into_owned(),
        subject_bytes,
        headers,
        msg: rec[f.msg_start..end].to_vec(),
        erased: f.seq_raw & EBIT != 0,
        tombstone: f.seq_raw & TBIT != 0,
    }
}

/// Decodes the records of a decoded block. Damage is reported in `problems` and skipped:
/// the scan moves on byte by byte to the next offset holding a record that passes the
/// sanity checks and verifies its checksum, hashing at most [`RESYNC_BUDGET`] bytes.
pub fn parse_records(
    path: &Path,
    buf: &[u8],
    key: &HashKey,
    problems: &mut Vec<BlockError>,
) -> Vec<Record> {
    let mut records = Vec::new();
    let mut budget = RESYNC_BUDGET;
    let mut i = 0usize;
    while i < buf.len() {
        let fail = match frame_at(buf, i) {
            Ok(f) => {
                if verify(buf, i, &f, key) {
                    records.push(build(buf, i, &f));
                    i += f.rl;
                    continue;
                }
                BlockError::Checksum {
                    file: path.to_path_buf(),
                    offset: i,
                    seq: f.seq_raw & !(EBIT | TBIT),
                }
            }
            Err(Fail::Overrun) => BlockError::Truncated {
                file: path.to_path_buf(),
                offset: i,
                len: buf.len(),
            },
            Err(Fail::Bad(reason)) => BlockError::BadRecord {
                file: path.to_path_buf(),
                offset: i,
                reason,
            },
        };
        problems.push(fail);
        match resync(buf, i + 1, key, &mut budget) {
            Resync::Found(j) => {
                problems.push(BlockError::Skipped {
                    file: path.to_path_buf(),
                    from: i,
                    to: j,
                });
                i = j;
            }
            Resync::End => break,
            Resync::Budget(at) => {
                problems.push(BlockError::ResyncBudget {
                    file: path.to_path_buf(),
                    offset: at,
                });
                break;
            }
        }
    }
    records
}

enum Resync {
    Found(usize),
    End,
    Budget(usize),
}

fn resync(buf: &[u8], from: usize, key: &HashKey, budget: &mut usize) -> Resync {
    let mut j = from;
    while j + EMPTY_RECORD_LEN <= buf.len() {
        if let Ok(f) = frame_at(buf, j) {
            if f.rl > *budget {
                return Resync::Budget(j);
            }
            *budget -= f.rl;
            if verify(buf, j, &f, key) {
                return Resync::Found(j);
            }
        }
        j += 1;
    }
    Resync::End
}

/// The messages still stored across `blocks` (in block order), as the server counts them:
/// live records whose sequence no erased record (a delete marker, `seq|ebit`, which the
/// server appends when removing a message from the block being written) and no tombstone
/// names.
pub fn live_records(blocks: &[BlockContents]) -> Vec<&Record> {
    let deleted: std::collections::HashSet<u64> = blocks
        .iter()
        .flat_map(|b| &b.records)
        .filter(|r| r.erased || r.tombstone)
        .map(|r| r.seq)
        .collect();
    blocks
        .iter()
        .flat_map(|b| &b.records)
        .filter(|r| r.is_live() && !deleted.contains(&r.seq))
        .collect()
}

/// The block index of a file named `<n>.blk` (decimal, as `blkScan` writes it).
pub fn block_index(file_name: &str) -> Option<u32> {
    index_with_suffix(file_name, ".blk")
}

fn index_with_suffix(file_name: &str, suffix: &str) -> Option<u32> {
    let digits = file_name.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All blocks of one store, in index order.
#[derive(Debug, Default)]
pub struct StoreBlocks {
    /// Blocks that could be decoded (each with its own problems).
    pub blocks: Vec<BlockContents>,
    /// Blocks or files that could not be read at all.
    pub problems: Vec<BlockError>,
}

/// Reads every `msgs/<n>.blk` under `store_dir` in index order. A block with a `<n>.key`
/// beside it is decrypted through `keys`; one that cannot be (no keys, key does not open)
/// is reported and skipped. A missing `msgs/` directory is an empty store.
pub fn read_store_blocks(
    store_dir: &Path,
    name: &str,
    keys: Option<&dyn BlockKeys>,
) -> StoreBlocks {
    let mut out = StoreBlocks::default();
    let msgs = store_dir.join("msgs");
    let entries = match fsio::list_dir(&msgs, MAX_DIR_ENTRIES) {
        Ok((entries, more)) => {
            if more {
                out.problems.push(BlockError::TooManyEntries {
                    dir: msgs.clone(),
                    limit: MAX_DIR_ENTRIES,
                });
            }
            entries
        }
        Err(e) if e.is_not_found() => return out,
        Err(source) => {
            out.problems.push(BlockError::Read { file: msgs, source });
            return out;
        }
    };
    let mut blocks: Vec<(u32, PathBuf, FileKind)> = entries
        .iter()
        .filter_map(|e| block_index(&e.name).map(|i| (i, e.path.clone(), e.kind)))
        .collect();
    blocks.sort_by_key(|b| b.0);
    for (index, path, kind) in blocks {
        if kind != FileKind::Regular {
            out.problems
                .push(BlockError::NotRegular { file: path, kind });
            continue;
        }
        let key_file = msgs.join(format!("{index}.key"));
        let cipher = match fsio::read_bytes_if_exists(&key_file) {
            Ok(None) => None,
            Ok(Some(kb)) => match keys {
                None => {
                    out.problems.push(BlockError::NoKeys {
                        file: path,
                        key_file,
                    });
                    continue;
                }
                Some(k) => match k.block_cipher(name, index, &kb) {
                    Ok(c) => Some(c),
                    Err(source) => {
                        out.problems.push(BlockError::Key { key_file, source });
                        continue;
                    }
                },
            },
            Err(source) => {
                out.problems.push(BlockError::Read {
                    file: key_file,
                    source,
                });
                continue;
            }
        };
        match read_block(&path, name, index, cipher.as_ref()) {
            Ok(b) => out.blocks.push(b),
            Err(e) => out.problems.push(e),
        }
    }
    out
}

/// Encodes one record as `writeMsgRecordLocked` does: for tests and synthetic stores.
pub fn encode_record(
    name_for_checksum: &str,
    index: u32,
    seq_with_flags: u64,
    ts: i64,
    subject: &[u8],
    headers: &[u8],
    msg: &[u8],
) -> Vec<u8> {
    let has_headers = !headers.is_empty();
    let rl = EMPTY_RECORD_LEN
        + subject.len()
        + msg.len()
        + if has_headers { 4 + headers.len() } else { 0 };
    let mut out = Vec::with_capacity(rl);
    let l = rl as u32 | if has_headers { HBIT } else { 0 };
    out.extend_from_slice(&l.to_le_bytes());
    out.extend_from_slice(&seq_with_flags.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(subject);
    if has_headers {
        out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
        out.extend_from_slice(headers);
    }
    out.extend_from_slice(msg);
    let sum =
        HashKey::for_block(name_for_checksum, index).sum(&[&out[4..20], subject, headers, msg]);
    out.extend_from_slice(&sum);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(recs: &[Vec<u8>]) -> Vec<u8> {
        recs.concat()
    }

    #[test]
    fn records_round_trip_with_flags_and_headers() {
        let buf = block(&[
            encode_record("S", 1, 1, 10, b"a.b", b"", b"one"),
            encode_record("S", 1, 2, 11, b"a.c", b"NATS/1.0\r\nX: y\r\n\r\n", b"two"),
            encode_record("S", 1, 3 | EBIT, 12, b"", b"", b"xx"),
            encode_record("S", 1, 2 | TBIT, 13, b"", b"", b""),
        ]);
        let mut problems = Vec::new();
        let recs = parse_records(
            Path::new("1.blk"),
            &buf,
            &HashKey::for_block("S", 1),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(recs.len(), 4);
        assert_eq!(
            (recs[0].seq, recs[0].subject.as_str(), &recs[0].msg[..]),
            (1, "a.b", &b"one"[..])
        );
        assert_eq!(recs[1].headers, b"NATS/1.0\r\nX: y\r\n\r\n");
        assert_eq!(recs[1].msg, b"two");
        assert!(recs[2].erased && recs[2].seq == 3 && !recs[2].is_live());
        assert!(recs[3].tombstone && recs[3].seq == 2);
        assert_eq!(recs[3].offset, buf.len() - EMPTY_RECORD_LEN);
        // Another block index keys another checksum.
        let mut problems = Vec::new();
        let recs = parse_records(
            Path::new("2.blk"),
            &buf,
            &HashKey::for_block("S", 2),
            &mut problems,
        );
        assert!(recs.is_empty());
        assert!(matches!(
            problems[0],
            BlockError::Checksum {
                offset: 0,
                seq: 1,
                ..
            }
        ));
    }

    #[test]
    fn damage_is_reported_and_skipped() {
        let a = encode_record("S", 1, 1, 10, b"x", b"", b"first");
        let b = encode_record("S", 1, 2, 11, b"x", b"", b"second");
        let c = encode_record("S", 1, 3, 12, b"x", b"", b"third");
        let mut buf = block(&[a.clone(), b.clone(), c.clone()]);
        // Flip a payload byte of the second record.
        buf[a.len() + 25] ^= 0x40;
        let mut problems = Vec::new();
        let key = HashKey::for_block("S", 1);
        let recs = parse_records(Path::new("1.blk"), &buf, &key, &mut problems);
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3]);
        assert!(
            matches!(problems[0], BlockError::Checksum { offset, seq: 2, .. } if offset == a.len())
        );
        assert!(
            matches!(problems[1], BlockError::Skipped { from, to, .. } if from == a.len() && to == a.len() + b.len())
        );
        // A torn tail.
        let mut problems = Vec::new();
        let torn = &block(&[a.clone(), b.clone()])[..a.len() + 10];
        let recs = parse_records(Path::new("1.blk"), torn, &key, &mut problems);
        assert_eq!(recs.len(), 1);
        assert!(
            matches!(problems[..], [BlockError::Truncated { offset, .. }] if offset == a.len())
        );
        assert!(problems[0]
            .to_string()
            .starts_with("1.blk: record at offset"));
        // Zeros in the middle.
        let mut z = a.clone();
        z.extend(vec![0u8; 100]);
        z.extend(&c);
        let mut problems = Vec::new();
        let recs = parse_records(Path::new("1.blk"), &z, &key, &mut problems);
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn compressed_and_encrypted_blocks_decode() {
        let recs: Vec<Vec<u8>> = (1..=50u64)
            .map(|s| {
                encode_record(
                    "L",
                    7,
                    s,
                    s as i64,
                    b"logs.app",
                    b"",
                    &b"lorem ipsum ".repeat(20),
                )
            })
            .collect();
        let plain = recs.concat();
        let (body, trailer) = plain.split_at(plain.len() - 8);
        let mut w = minlz::s2::Writer::new(Vec::new());
        std::io::Write::write_all(&mut w, body).unwrap();
        std::io::Write::flush(&mut w).unwrap();
        let compressed = w.get_ref().clone();
        let mut file = b"cmp\x01".to_vec();
        let mut v = [0u8; 10];
        let mut n = 0;
        let mut x = plain.len() as u64;
        loop {
            if x < 0x80 {
                v[n] = x as u8;
                n += 1;
                break;
            }
            v[n] = (x as u8) | 0x80;
            x >>= 7;
            n += 1;
        }
        file.extend_from_slice(&v[..n]);
        file.extend(compressed);
        file.extend_from_slice(trailer);
        let c = BlockCipher::new(Cipher::Aes, [1; 32], &[2; 16]).unwrap();
        let mut enc = file.clone();
        c.apply_keystream(&mut enc);
        for (bytes, cipher) in [(file, None), (enc, Some(&c))] {
            let b = decode_block(Path::new("7.blk"), bytes, "L", 7, cipher).unwrap();
            assert!(b.problems.is_empty(), "{:?}", b.problems);
            assert_eq!(
                b.compression,
                Compression::S2 {
                    original_size: plain.len() as u64
                }
            );
            assert_eq!(b.records.len(), 50);
            assert_eq!(b.records[49].seq, 50);
        }
        assert!(matches!(
            decode_block(
                Path::new("7.blk"),
                b"cmp\x07\x05rest".to_vec(),
                "L",
                7,
                None
            ),
            Err(BlockError::UnknownCompression { alg: 7, .. })
        ));
        assert!(matches!(
            decode_block(Path::new("7.blk"), b"cmp\x01\x85".to_vec(), "L", 7, None),
            Err(BlockError::CompressionHeader { .. })
        ));
    }

    #[test]
    fn looking_for_a_record_after_damage_is_bounded() {
        // Every offset looks like a 16 MiB record with a bad checksum.
        let buf = vec![1u8; 20 * 1024 * 1024];
        let mut problems = Vec::new();
        let t = std::time::Instant::now();
        let recs = parse_records(
            Path::new("9.blk"),
            &buf,
            &HashKey::for_block("S", 9),
            &mut problems,
        );
        assert!(recs.is_empty());
        assert!(matches!(
            problems[0],
            BlockError::Checksum { offset: 0, .. }
        ));
        assert!(
            matches!(problems.last(), Some(BlockError::ResyncBudget { .. })),
            "{problems:?}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn uvarint_matches_go() {
        assert_eq!(uvarint(&[0]), Some((0, 1)));
        assert_eq!(uvarint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(
            uvarint(&[0xff; 9].iter().copied().chain([1]).collect::<Vec<_>>()),
            Some((u64::MAX, 10))
        );
        assert_eq!(
            uvarint(&[0xff; 9].iter().copied().chain([2]).collect::<Vec<_>>()),
            None
        );
        assert_eq!(block_index("12.blk"), Some(12));
        assert_eq!(block_index("+12.blk"), None);
        assert_eq!(block_index(".blk"), None);
        assert_eq!(block_index("1.blk.tmp"), None);
    }
}

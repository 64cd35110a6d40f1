//! The tail round trip on stores of real killed clusters (tests/data/raft, every release,
//! plain and encrypted with both ciphers): the last messages of a stream's store are cut
//! off (as a crash before the store caught up with its log leaves it), the tail reader
//! must find exactly them in the log, and the block the plan writes must give them back
//! record for record: sequence, timestamp, subject, headers and payload.

use std::path::Path;

use super::*;
use crate::plan::manifest::Change;
use crate::store::filestore::{self, BlockKeys};
use crate::store::raft::fixture_tests::{copy_tree, keys, FIXTURES};

/// (seq, ts, subject, headers, msg) of every live record of a stream store.
type Msgs = Vec<(u64, i64, Vec<u8>, Vec<u8>, Vec<u8>)>;

fn live(dir: &Path, name: &str, keys: Option<&dyn BlockKeys>) -> Msgs {
    let blocks = filestore::read_store_blocks(dir, name, keys);
    assert!(blocks.problems.is_empty(), "{:?}", blocks.problems);
    filestore::live_records(&blocks.blocks)
        .into_iter()
        .map(|r| {
            (
                r.seq,
                r.ts,
                r.subject_bytes.clone(),
                r.headers.clone(),
                r.msg.clone(),
            )
        })
        .collect()
}

/// Cuts the last `n` records off the last block of `stream_dir` and drops `index.db`.
fn cut(stream_dir: &Path, name: &str, keys: Option<&dyn BlockKeys>, n: usize) -> Vec<u64> {
    let blocks = filestore::read_store_blocks(stream_dir, name, keys);
    let last = blocks.blocks.last().expect("a block");
    let records = &last.records;
    assert!(records.len() > n);
    let keep = &records[records.len() - n];
    // Plain and encrypted alike: the ciphers are streams, so a prefix decrypts alone.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&last.path)
        .unwrap();
    f.set_len(keep.offset as u64).unwrap();
    let _ = std::fs::remove_file(stream_dir.join("msgs/index.db"));
    records[records.len() - n..].iter().map(|r| r.seq).collect()
}

#[test]
fn a_store_behind_its_log_gets_the_log_tail_back_record_for_record() {
    let mut found = 0;
    for fx in FIXTURES {
        let tmp = tempfile::tempdir().unwrap();
        copy_tree(&fx.jetstream(), &tmp.path().join("jetstream"));
        let keys = fx.key.map(|(k, c)| keys(k.as_bytes(), None, c));
        let account_keys = fx.account_keys("A");
        let bk = account_keys.as_ref().map(|k| k as &dyn BlockKeys);
        let dir = tmp.path().join("jetstream/A/streams/ORDERS");
        let whole = live(&dir, "ORDERS", bk);
        let cut_seqs = cut(&dir, "ORDERS", bk, 2);

        let store = Store::open_with(tmp.path(), keys.as_ref()).unwrap();
        let cluster = crate::store::inventory::read_cluster(&store).unwrap();
        let tails = tail::read(&store, &cluster);
        assert!(
            tails.problems.is_empty(),
            "{}: {:?}",
            fx.dir,
            tails.problems
        );
        let t = tails
            .streams
            .iter()
            .find(|t| t.stream == "ORDERS")
            .expect("ORDERS has a stream group");
        let in_log: Vec<u64> = t.messages.iter().map(|m| m.seq).collect();
        // What the cut removed is in the tail exactly when the log still holds it (a
        // snapshot since may have compacted it away); nothing else is.
        assert!(
            in_log.iter().all(|s| cut_seqs.contains(s)),
            "{}: tail {in_log:?}, cut {cut_seqs:?}",
            fx.dir
        );
        if in_log.is_empty() {
            continue;
        }
        found += 1;
        eprintln!("{}: {in_log:?} from the log", fx.dir);
        assert_eq!(
            in_log,
            cut_seqs[cut_seqs.len() - in_log.len()..],
            "{}",
            fx.dir
        );

        // Written back, the store reads as before the cut.
        let out = plan_tail(&store, &tails, TailMode::All).unwrap();
        assert_eq!(out.messages, in_log.len());
        for c in &out.changes {
            let path = tmp.path().join(c.path());
            match c {
                Change::Edit(e) => std::fs::write(&path, e.after_bytes().unwrap()).unwrap(),
                Change::Remove(_) => std::fs::remove_file(&path).unwrap(),
                Change::Mkdir(_) | Change::Copy(_) => unreachable!(),
            }
        }
        let mut expected = whole.clone();
        expected.truncate(whole.len() - cut_seqs.len() + in_log.len());
        assert_eq!(live(&dir, "ORDERS", bk), expected, "{}", fx.dir);
        assert_eq!(
            fx.key.is_some(),
            out.changes.iter().any(|c| c.path().ends_with(".key")),
            "{}: an encrypted stream's new block has a key of its own",
            fx.dir
        );
    }
    assert!(
        found >= 6,
        "only {found} fixtures kept the cut messages in their log"
    );
}

#[test]
fn seq_runs() {
    assert_eq!(SeqRange::runs([]), vec![]);
    let r = SeqRange::runs([1, 2, 3, 5, 7, 8]);
    assert_eq!(
        r.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["1..3", "5", "7..8"]
    );
    assert_eq!(r.iter().map(SeqRange::count).sum::<u64>(), 6);
    let many = SeqRange::runs((0..20).map(|i| i * 2));
    assert_eq!(SeqRange::show(&many), "0, 2, 4, 6 and 16 more runs");
    assert!(SeqRange::runs([4, 4, 5]) == vec![SeqRange { first: 4, last: 5 }]);
}

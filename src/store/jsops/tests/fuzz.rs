//! Fixed-seed fuzzing of every decoder (and of `consumer_ops::apply_with`): thousands of
//! random inputs and mutations of the real payloads in `fixtures/`. A panic fails the
//! test; errors must point inside the input; no call may take long.

use std::time::{Duration, Instant};

use super::*;
use crate::store::jsops::consumer_ops::{
    self, AckPolicy, ApplyConfig, ConsumerOp, ConsumerState, Rules,
};
use crate::store::jsops::{meta, stream_ops, OpError};

#[derive(Default)]
struct Seeds {
    meta_ops: Vec<Vec<u8>>,
    meta_snaps: Vec<Vec<u8>>,
    stream_ops: Vec<Vec<u8>>,
    stream_snaps: Vec<Vec<u8>>,
    consumer_ops: Vec<Vec<u8>>,
    consumer_snaps: Vec<Vec<u8>>,
}

fn seeds() -> Seeds {
    let mut s = Seeds::default();
    let dirs = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|fx| fx.path().join("_js_"))
        .chain([survivor_js()]);
    for js in dirs {
        let Ok(groups) = std::fs::read_dir(&js) else {
            continue;
        };
        for g in groups.flatten() {
            let name = g.file_name().to_string_lossy().into_owned();
            let (ops, snaps) = if name == "_meta_" {
                (&mut s.meta_ops, &mut s.meta_snaps)
            } else if name.starts_with("S-") {
                (&mut s.stream_ops, &mut s.stream_snaps)
            } else {
                (&mut s.consumer_ops, &mut s.consumer_snaps)
            };
            if let Some(snap) = latest_snapshot(&g.path()) {
                snaps.push(snap.data);
            }
            for (_, kind, data) in entries(&g.path(), 0) {
                match kind {
                    ENTRY_NORMAL => ops.push(data),
                    ENTRY_SNAPSHOT => snaps.push(data),
                    _ => {}
                }
            }
        }
    }
    // Encodings the fixtures do not have (see the unit tests for their meaning).
    s.stream_snaps
        .push(vec![42, 1, 5, 100, 1, 10, 0, 4, 33, 3, 2, 33, 7, 2]);
    s.stream_snaps.push(
        br#"{"messages":3,"bytes":9,"first_seq":1,"last_seq":5,"clfs":1,"deleted":[2,4]}"#.to_vec(),
    );
    s.stream_snaps.push(vec![
        42, 2, 1, 1, 1, 1, 0, 1, 3, b'S', b'R', b'C', 9, 2, b'i', b'd', 0,
    ]);
    s.stream_ops.push(b"\x0f{\"First\":3,\"Num\":4}\n".to_vec());
    s.consumer_snaps
        .push(vec![22, 1, 2, 3, 2, 2, 1, 0, 3, 1, 0]);
    assert!(s.meta_ops.len() > 30 && s.meta_snaps.len() >= 6);
    assert!(s.stream_ops.len() > 100 && s.stream_snaps.len() >= 6);
    assert!(s.consumer_ops.len() > 100 && s.consumer_snaps.len() >= 6);
    s
}

/// Checks one decoder result: errors point inside the input (or the decompressed body).
fn check<T>(name: &str, data: &[u8], r: Result<T, OpError>, slowest: &mut Duration, t: Instant) {
    let took = t.elapsed();
    if took > *slowest {
        *slowest = took;
    }
    assert!(
        took < Duration::from_secs(2),
        "{name}: {took:?} on {} bytes",
        data.len()
    );
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(!msg.is_empty());
        let decompressed = matches!(
            e,
            OpError::Truncated {
                decompressed: true,
                ..
            } | OpError::Varint {
                decompressed: true,
                ..
            } | OpError::Json {
                decompressed: true,
                ..
            } | OpError::Invalid {
                decompressed: true,
                ..
            }
        );
        if !decompressed {
            assert!(
                e.offset() <= data.len(),
                "{name}: {msg} (len {})",
                data.len()
            );
        }
        if let Some(op) = e.op() {
            if !data.is_empty() {
                assert_eq!(op, data[0], "{name}: {msg}");
            }
        }
    }
}

fn run(
    name: &str,
    seeds: &[Vec<u8>],
    rng: &mut XorShift,
    rounds: usize,
    f: &dyn Fn(&[u8]) -> Result<(), OpError>,
) {
    let mut slowest = Duration::ZERO;
    // The seeds themselves decode.
    for s in seeds {
        f(s).unwrap_or_else(|e| panic!("{name}: a real payload does not decode: {e}"));
    }
    for i in 0..rounds {
        let data = match i % 4 {
            // Pure noise, sometimes with a plausible first byte.
            0 => {
                let mut d = rng.bytes(80);
                if !d.is_empty() && rng.below(2) == 0 {
                    d[0] = [
                        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 22, 42,
                    ][rng.below(21) as usize];
                }
                d
            }
            // A real payload mutated.
            1 | 2 => {
                let s = &seeds[rng.below(seeds.len() as u64) as usize];
                rng.mutate(s)
            }
            // A real payload's prefix with noise after it.
            _ => {
                let s = &seeds[rng.below(seeds.len() as u64) as usize];
                let mut d = s[..rng.below(s.len() as u64 + 1) as usize].to_vec();
                d.extend(rng.bytes(16));
                d
            }
        };
        let t = Instant::now();
        let r = f(&data);
        check(name, &data, r, &mut slowest, t);
    }
    eprintln!("{name}: {rounds} inputs, slowest {slowest:?}");
}

#[test]
fn fuzz_meta_decoders() {
    let s = seeds();
    let mut rng = XorShift::new(0x6d65_7461);
    run("meta::decode_op", &s.meta_ops, &mut rng, 60_000, &|d| {
        meta::decode_op(d).map(drop)
    });
    run(
        "meta::decode_snapshot",
        &s.meta_snaps,
        &mut rng,
        30_000,
        &|d| meta::decode_snapshot(d).map(drop),
    );
    // S2 stream framing for op 9: the identifier, then random chunks (types 0x00
    // compressed, 0x01 uncompressed, 0xfe padding, 0x80.. skippable, others reserved).
    let mut slowest = Duration::ZERO;
    for _ in 0..30_000 {
        let mut d = vec![9, 0xff, 6, 0, 0, b'S', b'2', b's', b'T', b'w', b'O'];
        for _ in 0..=rng.below(3) {
            let kind = [0x00, 0x01, 0xfe, 0x80, 0xff, 0x02, 0x99][rng.below(7) as usize];
            let len = [0, 1, 4, 5, 8, 30, 0xffffff][rng.below(7) as usize] as u32;
            d.push(kind);
            d.extend_from_slice(&len.to_le_bytes()[..3]);
            d.extend(rng.bytes(40));
        }
        let t = Instant::now();
        check(
            "meta::decode_op (S2 stream)",
            &d,
            meta::decode_op(&d).map(drop),
            &mut slowest,
            t,
        );
    }
}

#[test]
fn fuzz_stream_decoders() {
    let s = seeds();
    let mut rng = XorShift::new(0x7374_7265);
    run(
        "stream_ops::decode",
        &s.stream_ops,
        &mut rng,
        100_000,
        &|d| stream_ops::decode(d).map(drop),
    );
    run(
        "stream_ops::decode_snapshot",
        &s.stream_snaps,
        &mut rng,
        100_000,
        &|d| {
            stream_ops::decode_snapshot(d).map(|st| {
                // Walking what was decoded is bounded too (a range is lazy).
                for b in &st.deleted {
                    let _ = b.len();
                    let _ = b.iter().take(10_000).count();
                    let _ = b.contains(7);
                }
            })
        },
    );
}

#[test]
fn fuzz_consumer_decoders() {
    let s = seeds();
    let mut rng = XorShift::new(0x636f_6e73);
    run(
        "consumer_ops::decode",
        &s.consumer_ops,
        &mut rng,
        100_000,
        &|d| consumer_ops::decode(d).map(drop),
    );
    run(
        "consumer_ops::decode_snapshot",
        &s.consumer_snaps,
        &mut rng,
        100_000,
        &|d| consumer_ops::decode_snapshot(d).map(drop),
    );
}

#[test]
fn fuzz_every_decoder_with_every_other_payload() {
    let s = seeds();
    let all: Vec<&Vec<u8>> = [
        &s.meta_ops,
        &s.meta_snaps,
        &s.stream_ops,
        &s.stream_snaps,
        &s.consumer_ops,
        &s.consumer_snaps,
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut slowest = Duration::ZERO;
    for d in all {
        let t = Instant::now();
        check("meta op", d, meta::decode_op(d).map(drop), &mut slowest, t);
        check(
            "meta snapshot",
            d,
            meta::decode_snapshot(d).map(drop),
            &mut slowest,
            t,
        );
        check(
            "stream op",
            d,
            stream_ops::decode(d).map(drop),
            &mut slowest,
            t,
        );
        check(
            "stream snapshot",
            d,
            stream_ops::decode_snapshot(d).map(drop),
            &mut slowest,
            t,
        );
        check(
            "consumer op",
            d,
            consumer_ops::decode(d).map(drop),
            &mut slowest,
            t,
        );
        check(
            "consumer snapshot",
            d,
            consumer_ops::decode_snapshot(d).map(drop),
            &mut slowest,
            t,
        );
    }
}

fn small_or_edge(rng: &mut XorShift) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - rng.below(3),
        3 => 1 << 63,
        _ => rng.below(40),
    }
}

#[test]
fn fuzz_consumer_apply() {
    let mut rng = XorShift::new(0x6170_706c);
    let policies = [
        AckPolicy::None,
        AckPolicy::All,
        AckPolicy::Explicit,
        AckPolicy::FlowControl,
    ];
    let rules = [Rules::Current, Rules::V2_11, Rules::V2_10];
    let t = Instant::now();
    for _ in 0..2_000 {
        let cfg = ApplyConfig {
            ack_policy: policies[rng.below(4) as usize],
            max_deliver: [-1, 0, 1, 3][rng.below(4) as usize],
            rules: rules[rng.below(3) as usize],
        };
        let mut state = ConsumerState::default();
        for _ in 0..60 {
            let op = match rng.below(6) {
                0 | 1 => ConsumerOp::Delivered {
                    dseq: small_or_edge(&mut rng),
                    sseq: small_or_edge(&mut rng),
                    dc: small_or_edge(&mut rng),
                    ts: rng.next_u64() as i64,
                },
                2 | 3 => ConsumerOp::Acks {
                    dseq: small_or_edge(&mut rng),
                    sseq: small_or_edge(&mut rng),
                },
                4 => ConsumerOp::Skip {
                    sseq: small_or_edge(&mut rng),
                },
                _ => ConsumerOp::Reset {
                    sseq: small_or_edge(&mut rng),
                    reply: Vec::new(),
                },
            };
            consumer_ops::apply_with(&mut state, &op, &cfg);
        }
    }
    assert!(t.elapsed() < Duration::from_secs(20));
}

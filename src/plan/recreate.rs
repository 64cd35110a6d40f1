//! Consumers an interest or work-queue stream needs, that this store lacks.
//!
//! At load, nats-server removes from such a stream every message all its *loaded* consumers
//! have acknowledged (`checkInterestState` in server/stream.go). A durable consumer that is
//! not in the store (memory storage, placed on a lost peer, its directory missing) does not
//! load, so the messages only it still needed are deleted. The plan recreates each such
//! consumer as a durable file consumer from its configuration in the cluster's meta state
//! (`mem_storage` dropped, `num_replicas` 0), with a starting state that keeps every
//! message the store holds: its ack floor just below the stream's first sequence, or the
//! consumer's own last state this survivor knew if that is lower. Its files are written as
//! the server writes them (`writeConsumerMeta` in server/filestore.go): `meta.inf` holds
//! `FileConsumerInfo` (`Created`, `Name`, then the consumer config), `meta.sum` its
//! checksum, `o.dat` the state (`encodeConsumerState`), encrypted like the stream when it
//! is. It sees redeliveries of what it may already have processed: the safe side.

use serde_json::{Map, Value};

use super::diff;
use super::manifest::{Change, Edit, Mkdir};
use super::PlanError;
use crate::store::checksum;
use crate::store::cluster::Cluster;
use crate::store::inventory::{Class, Inventory};
use crate::store::jsops::consumer_ops::{encode_state, ConsumerState};
use crate::store::jsops::meta::ConsumerAssignment;
use crate::store::report::{Warning, WarningCode};
use crate::store::{Store, Stream};

/// `defaultDirPerms` and `defaultFilePerms` in server/filestore.go.
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// What recreating (or, with `enabled` false, not recreating) missing consumers adds to a
/// plan.
#[derive(Debug, Default)]
pub struct Recreated {
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    pub consumers: usize,
}

/// The consumers to recreate in `store`, from `inventory`.
pub fn recreate(
    store: &Store,
    inventory: &Inventory,
    cluster: Option<&Cluster>,
    enabled: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Recreated, PlanError> {
    let mut out = Recreated::default();
    let Some(cluster) = cluster else {
        return Ok(out);
    };
    let local = store.streams_by_name();
    for asset in &inventory.streams {
        if !matches!(asset.class, Class::Here | Class::HereBehind)
            || !matches!(asset.retention.as_deref(), Some("interest" | "workqueue"))
        {
            continue;
        }
        let Some(stream) = local.get(&(asset.account.as_str(), asset.name.as_str())) else {
            continue;
        };
        let Some(sa) = cluster
            .streams
            .iter()
            .find(|sa| sa.account == asset.account && sa.name == asset.name)
        else {
            continue;
        };
        for c in &asset.consumers {
            let missing = matches!(
                c.class,
                Class::NotHere | Class::Memory | Class::AssignedHereMissing
            );
            if !missing || c.durable != Some(true) {
                continue;
            }
            let Some(ca) = sa.consumers.iter().find(|ca| ca.name == c.name) else {
                continue;
            };
            let known_floor = cluster
                .groups
                .get(&ca.group.name)
                .and_then(|h| h.consumer.as_ref())
                .map(|st| st.ack_floor_stream);
            // From index.db, or every block (tombstones anywhere count) when a killed
            // server left none.
            let first = match (&stream.state, stream.state_stale) {
                (Ok(st), false) => st.first_seq,
                _ => crate::store::tail::live_subjects(store, &asset.account, stream)
                    .ok()
                    .and_then(|live| live.keys().next().copied())
                    .unwrap_or(0),
            };
            let floor = first.saturating_sub(1).min(known_floor.unwrap_or(u64::MAX));
            let what = format!(
                "consumer `{}` of stream `{}` (account `{}`)",
                ca.name, asset.name, asset.account
            );
            if enabled {
                consumer_files(store, &asset.account, stream, ca, floor, now, &mut out)?;
                out.consumers += 1;
                out.warnings.push(Warning::new(
                    WarningCode::ConsumerRecreated,
                    &format!("{}/obs/{}", stream.dir, ca.name),
                    format!(
                        "{what} is not in this store ({}); the plan recreates it as a durable file \
                         consumer with its ack floor at seq {floor}, so the server deletes nothing \
                         at load. It will be delivered again what it may already have processed: \
                         the safe side",
                        c.class.describe()
                    ),
                ));
            } else {
                out.warnings.push(Warning::new(
                    WarningCode::MessagesDeletedAtLoad,
                    &stream.dir,
                    deleted_at_load(&what, stream, asset.retention.as_deref(), known_floor),
                ));
            }
        }
    }
    Ok(out)
}

/// What the server deletes at load without the missing consumer: on an interest stream,
/// everything up to the lowest ack floor of the consumers that do load.
fn deleted_at_load(
    what: &str,
    stream: &Stream,
    retention: Option<&str>,
    known_floor: Option<u64>,
) -> String {
    let st = stream.state.as_ref().ok();
    let loaded_floor = stream
        .consumers
        .iter()
        .filter_map(|c| c.state.as_ref().ok().map(|s| s.ack_floor_stream_seq))
        .min();
    let base =
        format!("{what} is not in this store and is not recreated (--no-recreate-consumers)");
    match (retention, st, loaded_floor) {
        (Some("interest"), Some(st), Some(floor)) if st.messages > 0 && floor >= st.first_seq => {
            let last = floor.min(st.last_seq);
            let only = known_floor
                .filter(|k| *k < last)
                .map(|k| format!(" (seq {}..{last} were still needed by it)", (k + 1).max(st.first_seq)))
                .unwrap_or_default();
            format!(
                "{base}: at load the server deletes seq {}..{last} of the stream, acknowledged by \
                 every consumer that loads{only}",
                st.first_seq
            )
        }
        (Some("interest"), _, _) => format!(
            "{base}: the consumers that load have acknowledged nothing the stream holds, so nothing \
             is deleted at load, but every message this consumer alone still needed is deleted once \
             the others acknowledge it"
        ),
        _ => format!(
            "{base}: its deliveries awaiting ack are lost, and a work queue delivers them to whichever \
             consumer comes next"
        ),
    }
}

/// The directory and files of one recreated consumer.
fn consumer_files(
    store: &Store,
    account: &str,
    stream: &Stream,
    ca: &ConsumerAssignment,
    floor: u64,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut Recreated,
) -> Result<(), PlanError> {
    let stream_name = stream.name().to_string();
    let obs = format!("{}/obs", stream.dir);
    let dir = format!("{obs}/{}", ca.name);
    let reason = format!(
        "recreated consumer `{}` of stream `{stream_name}`: without it the server deletes, at load, \
         the messages only it still needed",
        ca.name
    );
    if !store.abs(&obs).is_dir() && !out.changes.iter().any(|c| c.path() == obs) {
        out.changes.push(Change::Mkdir(Mkdir {
            path: obs.clone(),
            reason: reason.clone(),
            mode: DIR_MODE,
        }));
    }
    out.changes.push(Change::Mkdir(Mkdir {
        path: dir.clone(),
        reason: reason.clone(),
        mode: DIR_MODE,
    }));
    let info = consumer_info(ca, now);
    let state = encode_state(
        &ConsumerState {
            ack_floor_stream: floor,
            delivered_stream: floor,
            ..ConsumerState::default()
        },
        now.timestamp(),
    );
    let sealing = match stream.meta.as_ref().and_then(|m| m.sealed.as_ref()) {
        None if stream.meta.as_ref().is_some_and(|m| m.is_encrypted()) => {
            return Err(PlanError::Encrypted {
                path: format!("{}/meta.inf", stream.dir),
            })
        }
        None => None,
        Some(_) => {
            let keys = store.keys.as_ref().ok_or_else(|| PlanError::Encrypted {
                path: format!("{}/meta.inf", stream.dir),
            })?;
            Some(keys.new_asset(account, &format!("{stream_name}.{}", ca.name)))
        }
    };
    let (meta_inf, o_dat) = match &sealing {
        None => (info.clone(), state.clone()),
        Some((asset, meta_key)) => {
            let key_path = format!("{dir}/meta.key");
            out.changes.push(Change::Edit(Edit::new_binary(
                key_path.clone(),
                reason.clone(),
                FILE_MODE,
                None,
                meta_key,
                diff::unified(&key_path, None, b"(the consumer's key, sealed)"),
            )));
            (asset.seal(&info), asset.seal(&state))
        }
    };
    let inf_path = format!("{dir}/meta.inf");
    let edit = |path: &str, bytes: &[u8], shown: &[u8]| {
        let diff = diff::unified(path, None, shown);
        if sealing.is_some() {
            Edit::new_binary(path.into(), reason.clone(), FILE_MODE, None, bytes, diff)
        } else {
            Edit::new(path.into(), reason.clone(), FILE_MODE, None, bytes, diff)
        }
    };
    out.changes
        .push(Change::Edit(edit(&inf_path, &meta_inf, &info)));
    let sum = checksum::meta_sum(&checksum::consumer_key(&stream_name, &ca.name), &meta_inf);
    let sum_path = format!("{dir}/meta.sum");
    out.changes.push(Change::Edit(Edit::new(
        sum_path.clone(),
        reason.clone(),
        FILE_MODE,
        None,
        sum.as_bytes(),
        diff::unified(&sum_path, None, sum.as_bytes()),
    )));
    let dat_path = format!("{dir}/o.dat");
    let shown = format!("ack floor and delivered at stream seq {floor}, nothing pending\n");
    let dat = if sealing.is_some() {
        Edit::new_binary(
            dat_path.clone(),
            reason,
            FILE_MODE,
            None,
            &o_dat,
            diff::unified(&dat_path, None, shown.as_bytes()),
        )
    } else {
        Edit::new(
            dat_path.clone(),
            reason,
            FILE_MODE,
            None,
            &o_dat,
            diff::unified(&dat_path, None, shown.as_bytes()),
        )
    };
    out.changes.push(Change::Edit(dat));
    Ok(())
}

/// `FileConsumerInfo` as `json.Marshal` writes it: `Created`, `Name`, then the consumer
/// config's fields, less `mem_storage` and with `num_replicas` 0 (as the stream).
fn consumer_info(ca: &ConsumerAssignment, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let mut info = Map::new();
    let created = ca
        .created
        .clone()
        .unwrap_or_else(|| now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
    info.insert("Created".into(), Value::String(created));
    info.insert("Name".into(), Value::String(ca.name.clone()));
    if let Value::Object(config) = &ca.config {
        for (k, v) in config {
            if crate::store::json::fold_eq(k, "mem_storage") {
                continue;
            }
            if crate::store::json::fold_eq(k, "num_replicas") {
                info.insert(k.clone(), Value::from(0));
            } else {
                info.insert(k.clone(), v.clone());
            }
        }
    }
    if !info
        .keys()
        .any(|k| crate::store::json::fold_eq(k, "num_replicas"))
    {
        info.insert("num_replicas".into(), Value::from(0));
    }
    serde_json::to_vec(&Value::Object(info)).expect("JSON values serialize")
}

//! Working out what a standalone nats-server needs changed in a survivor's store.
//!
//! - A stream whose `meta.inf` has `num_replicas` > 1 or a `placement` gets `num_replicas: 1`
//!   and no `placement` (a standalone server refuses both), every other byte as it was.
//! - A consumer with `num_replicas` > 1 gets `0`, meaning "as the stream": otherwise the
//!   server refuses it once its stream is R1 ("consumer config replica count exceeds parent
//!   stream") and, on an interest or work-queue stream, deletes what only it had not acked.
//! - Each edited `meta.inf` gets its `meta.sum` recomputed; a `meta.sum` that is wrong or
//!   missing for an unedited file is recomputed too, since the server would skip that stream.
//! - The Raft state (`_js_` under the system account) leaves the store.

use super::tail::TailMode;
use crate::store::inventory::{read_cluster, Inventory, Names};
use crate::store::json;
use crate::store::report::{self, Warning};
use crate::store::tail;
use crate::store::{ChecksumState, MetaContent, MetaFile, Store, StoreError};

use super::diff;
use super::manifest::{Change, Edit, Manifest, Remove, Summary, SCHEMA, SCHEMA_VERSION};
use super::planned::Plan;

/// `defaultFilePerms` in server/filestore.go, for a `meta.sum` that has to be created.
const DEFAULT_FILE_MODE: u32 = 0o600;

/// Why no plan can be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "nats-server cannot load {} metadata file{} as {}:\n{}",
        .0.len(),
        if .0.len() == 1 { "" } else { "s" },
        if .0.len() == 1 { "it is" } else { "they are" },
        .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
    )]
    Unloadable(Vec<StoreError>),
    #[error("`{path}` is encrypted at rest, and no key was given")]
    Encrypted { path: String },
    #[error("the key given does not open {what} (`{path}`)")]
    WrongKey { what: String, path: String },
    #[error(
        "`{path}` of {what} does not decrypt, though the key opened its `meta.key`: the file is damaged"
    )]
    Damaged { what: String, path: String },
    #[error(
        "the survivors' copies disagree, and no rule says which is right:\n{}",
        .0.iter().map(|a| format!("  {a}")).collect::<Vec<_>>().join("\n")
    )]
    Ambiguous(Vec<super::survivors::Ambiguity>),
    #[error("--prefer `{}` is not one of the stores given (the target or a --from)", .path.display())]
    PreferNotGiven { path: std::path::PathBuf },
    #[error("`{}` is given twice (as the target and a --from, or twice as --from)", .path.display())]
    SameStore { path: std::path::PathBuf },
}

impl PlanError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PlanError::Store(e) => e.hint(),
            PlanError::Unloadable(files) => files.first().and_then(StoreError::hint),
            PlanError::Encrypted { .. } => Some(
                "give the server's JetStream encryption key (`jetstream { key: ... }`) with \
                 --key-file FILE, and its `prev_key` with --prev-key-file if the key was rotated",
            ),
            PlanError::WrongKey { .. } => Some(
                "check that --key-file holds the server's current key exactly (a trailing newline \
                 is ignored); if the key was rotated, give the old one with --prev-key-file",
            ),
            PlanError::Damaged { .. } => Some(
                "restore that meta.inf from another copy of the store (another node's disk, a \
                 backup), or move its directory out of this store copy and recover it separately",
            ),
            PlanError::Ambiguous(_) => Some(
                "look at both copies (`js-recover inspect TARGET --from OTHER`), decide which \
                 survivor is right, and plan again with --prefer THAT_STORE",
            ),
            PlanError::PreferNotGiven { .. } => {
                Some("give --prefer the path of the target store or of one of the --from stores")
            }
            PlanError::SameStore { .. } => Some("give each survivor's store once"),
        }
    }
}

impl PlanError {
    /// The refusal for an encrypted `meta.inf` the keys did not open.
    pub fn unopened(why: crate::store::crypto::Unsealed, what: &str, path: &str) -> PlanError {
        let (what, path) = (what.to_string(), path.to_string());
        match why {
            crate::store::crypto::Unsealed::WrongKey => PlanError::WrongKey { what, path },
            crate::store::crypto::Unsealed::Corrupt => PlanError::Damaged { what, path },
        }
    }
}

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Server names, to name the peers in the inventory.
    pub names: Names,
    /// Recreate durable consumers interest and work-queue streams need but the store lacks.
    pub recreate_consumers: bool,
    /// How much of the Raft log tail to write into the store.
    pub raft_tail: TailMode,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            names: Names::default(),
            recreate_consumers: true,
            raft_tail: TailMode::All,
        }
    }
}

/// Plans the changes for `store` with the default options. `now` stamps the manifest.
pub fn plan(store: &Store, now: chrono::DateTime<chrono::Utc>) -> Result<Manifest, PlanError> {
    Ok(plan_with(store, now, &PlanOptions::default())?.into_manifest())
}

/// What planning reads of a store besides its metadata: the lost cluster's view from its
/// Raft meta state, and the tails of its Raft logs.
#[derive(Debug)]
pub struct RaftView {
    pub cluster: Result<crate::store::cluster::Cluster, crate::store::cluster::NoView>,
    pub tails: tail::Tails,
}

impl RaftView {
    pub fn read(store: &Store) -> RaftView {
        let cluster = read_cluster(store);
        let tails = match &cluster {
            Ok(c) => tail::read(store, c),
            Err(_) => tail::Tails::default(),
        };
        RaftView { cluster, tails }
    }
}

/// Plans the changes for `store`. `now` stamps the manifest.
pub fn plan_with<'s>(
    store: &'s Store,
    now: chrono::DateTime<chrono::Utc>,
    opts: &PlanOptions,
) -> Result<Plan<'s>, PlanError> {
    let view = RaftView::read(store);
    tracing::info!("raft state read");
    plan_read(store, &view, now, opts)
}

/// The meta edits of `streams` and their consumers, in order, with their counts.
fn edit_streams<'s>(
    streams: &[(&'s crate::store::Account, &'s crate::store::Stream)],
) -> Result<(Vec<MetaEdit<'s>>, Summary), PlanError> {
    let mut edits = Vec::new();
    let mut summary = Summary::default();
    for (account, stream) in streams {
        summary.streams += 1;
        summary.consumers += stream.consumers.len();
        if let Some(meta) = &stream.meta {
            let what = || format!("stream `{}` of account `{}`", stream.name(), account.name);
            let fix = |replicas, has_placement| {
                Fix::new(Asset::Stream(stream.name()), replicas, has_placement)
            };
            if let Some(edit) = MetaEdit::decide(meta, what, fix)? {
                summary.streams_edited += usize::from(edit.fixed());
                edits.push(edit);
            }
        }
        for consumer in &stream.consumers {
            let Some(meta) = &consumer.meta else { continue };
            let what = || {
                format!(
                    "consumer `{}` of stream `{}` (account `{}`)",
                    consumer.name, stream.dir_name, account.name
                )
            };
            let fix = |replicas, _| Fix::new(Asset::Consumer(&consumer.name), replicas, false);
            if let Some(edit) = MetaEdit::decide(meta, what, fix)? {
                summary.consumers_edited += usize::from(edit.fixed());
                edits.push(edit);
            }
        }
    }
    Ok((edits, summary))
}

/// [`plan_with`], for a store whose Raft state is read already.
pub fn plan_read<'s>(
    store: &'s Store,
    view: &RaftView,
    now: chrono::DateTime<chrono::Utc>,
    opts: &PlanOptions,
) -> Result<Plan<'s>, PlanError> {
    let unloadable: Vec<StoreError> = store
        .meta_files()
        .filter_map(MetaFile::unloadable)
        .collect();
    if !unloadable.is_empty() {
        return Err(PlanError::Unloadable(unloadable));
    }
    // Each stream's edits are its own: decided on a few threads, kept in store order.
    let streams: Vec<(&crate::store::Account, &crate::store::Stream)> = store.streams().collect();
    let parts = crate::par::map_chunks(&streams, crate::par::cores(), edit_streams);
    let mut metas = Vec::new();
    let mut summary = Summary::default();
    for part in parts {
        let (part_metas, s) = part?;
        metas.extend(part_metas);
        summary.streams += s.streams;
        summary.consumers += s.consumers;
        summary.streams_edited += s.streams_edited;
        summary.consumers_edited += s.consumers_edited;
    }
    let cluster = &view.cluster;
    let inventory = Inventory::new(store, cluster, &opts.names);
    let recreated = super::recreate::recreate(
        store,
        &inventory,
        cluster.as_ref().ok(),
        opts.recreate_consumers,
        now,
    )?;
    summary.consumers_recreated = recreated.consumers;
    let mut changes = recreated.changes;
    let tails = &view.tails;
    let mut tail_changes = super::tail::plan_tail(store, tails, opts.raft_tail)?;
    summary.tail_messages = tail_changes.messages;
    summary.tail_consumers = tail_changes.consumers;
    changes.extend(std::mem::take(&mut tail_changes.changes));
    summary.files_edited = metas.iter().map(MetaEdit::len).sum::<usize>()
        + changes
            .iter()
            .filter(|c| matches!(c, Change::Edit(_)))
            .count();

    // The store's own warnings (one or two per stream at worst) are made again when the
    // plan is written, and come before these (see [`Plan::warnings`]).
    let mut warnings = report::inventory_warnings(&inventory);
    warnings.extend(recreated.warnings);
    warnings.extend(std::mem::take(&mut tail_changes.warnings));
    warnings.extend(tails.problems.iter().map(|p| Warning {
        code: report::WarningCode::RaftStateUnreadable,
        path: None,
        message: format!("part of the Raft log could not be read: {p}"),
    }));
    for account in &store.accounts {
        let Some(raft) = &account.raft else { continue };
        let tree_path = if account.streams.is_empty() && account.other_entries.is_empty() {
            account.dir.clone()
        } else {
            warnings.push(Warning {
                code: report::WarningCode::SystemAccountHasData,
                path: Some(account.dir.clone()),
                message: format!(
                    "account `{}` holds the Raft state and other data; only `{}` is removed",
                    account.name, raft.dir
                ),
            });
            raft.dir.clone()
        };
        let count = |k| raft.groups.iter().filter(|g| g.kind == k).count();
        use crate::store::RaftKind::*;
        let reason = format!(
            "Raft state of the lost cluster ({} meta, {} stream and {} consumer groups): a standalone \
             server has no use for it, and the new cluster must not inherit it",
            count(Meta),
            count(Stream),
            count(Consumer)
        );
        // The Raft directory was listed when the store was read; the account directory
        // around it holds nothing else.
        let tree = if tree_path == raft.dir {
            raft.tree.clone()
        } else {
            raft.tree_in_account.clone()
        };
        summary.bytes_removed += tree.bytes;
        summary.dirs_removed += 1;
        changes.push(Change::Remove(Remove::new(tree_path, reason, tree)));
    }

    let head = Manifest {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now,
        store: store.root.display().to_string(),
        summary,
        inventory: Some(inventory),
        tail: Some(tail_changes.plan),
        survivors: None,
        warnings,
        changes,
    };
    Ok(Plan::new(head, metas, store))
}

/// Whose `meta.inf` it is, for the reason given.
#[derive(Debug, Clone, Copy)]
pub(super) enum Asset<'s> {
    Stream(&'s str),
    Consumer(&'s str),
}

/// What to change in one `meta.inf`: its `num_replicas` (from `replicas`) and `placement`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fix<'s> {
    asset: Asset<'s>,
    replicas: i64,
    drop_placement: bool,
}

impl<'s> Fix<'s> {
    /// The fix a standalone server needs, if any: a stream to R1 without placement, a
    /// consumer with more than one replica to `0` (as its stream).
    fn new(asset: Asset<'s>, replicas: i64, has_placement: bool) -> Option<Fix<'s>> {
        let drop_placement = has_placement && matches!(asset, Asset::Stream(_));
        (replicas > 1 || drop_placement).then_some(Fix {
            asset,
            replicas,
            drop_placement,
        })
    }

    /// The new `num_replicas`, as JSON text.
    fn new_replicas(&self) -> Option<&'static str> {
        (self.replicas > 1).then_some(match self.asset {
            Asset::Stream(_) => "1",
            Asset::Consumer(_) => "0",
        })
    }

    fn reason(&self) -> String {
        let replicas = self.replicas;
        match self.asset {
            Asset::Stream(name) => {
                let mut why = Vec::new();
                if replicas > 1 {
                    why.push(format!(
                        "num_replicas {replicas} -> 1 (a standalone server refuses more than one replica)"
                    ));
                }
                if self.drop_placement {
                    why.push(
                        "placement removed (a standalone server cannot satisfy a cluster placement)"
                            .to_string(),
                    );
                }
                format!("stream `{name}`: {}", why.join("; "))
            }
            Asset::Consumer(name) => format!(
                "consumer `{name}`: num_replicas {replicas} -> 0 (as its stream): a consumer with more \
                 replicas than its R1 stream fails to load and is dropped, and on interest or work-queue \
                 streams its unacknowledged messages are deleted"
            ),
        }
    }
}

/// One `meta.inf` the plan edits (and its `meta.sum`), or whose `meta.sum` alone it
/// recomputes. What changes is decided when planning; the edits themselves (both files'
/// text, a diff, hashes: tens of megabytes at thousands of streams) are made from the store
/// when they are written, a few at a time (see [`Plan`]).
#[derive(Debug)]
pub(super) enum MetaEdit<'s> {
    Plain {
        meta: &'s MetaFile,
        fix: Option<Fix<'s>>,
        /// `meta.sum` changes (it is wrong, missing, or the `meta.inf` is edited).
        sum: bool,
    },
    /// An encrypted `meta.inf` is sealed with a new nonce each time, so its edits are made
    /// once, when planned.
    Made { fixed: bool, edits: Vec<Change> },
}

impl<'s> MetaEdit<'s> {
    /// What `meta` needs (`fix_for` of its `num_replicas` and whether it has a placement);
    /// `None` if nothing. Refuses a `meta.inf` a standalone server cannot load or the keys
    /// did not open, named as `what`.
    fn decide(
        meta: &'s MetaFile,
        what: impl Fn() -> String,
        fix_for: impl Fn(i64, bool) -> Option<Fix<'s>>,
    ) -> Result<Option<MetaEdit<'s>>, PlanError> {
        let object = match &meta.content {
            MetaContent::Json { object, .. } => object,
            MetaContent::Encrypted => {
                return Err(PlanError::Encrypted {
                    path: meta.path.clone(),
                })
            }
            MetaContent::Unopened(why) => {
                return Err(PlanError::unopened(*why, &what(), &meta.path))
            }
            MetaContent::Malformed(detail) => {
                return Err(StoreError::Malformed {
                    path: meta.path.clone(),
                    detail: detail.clone(),
                }
                .into())
            }
        };
        if let Some(e) = meta.unloadable() {
            return Err(e.into());
        }
        let replicas = meta.replicas().unwrap_or(0);
        let has_placement = matches!(object.go_object("placement"), Ok(Some(_)));
        let fix = fix_for(replicas, has_placement);
        if fix.is_none() && meta.checksum() == ChecksumState::Ok {
            return Ok(None);
        }
        if meta.sealed.is_some() {
            let edits = make(meta, fix.as_ref());
            return Ok(Some(MetaEdit::Made {
                fixed: fix.is_some(),
                edits,
            }));
        }
        let after = fix.as_ref().map(|f| apply_fix(meta.json_bytes(), f));
        let sum = new_sum(meta, after.as_deref().unwrap_or(&meta.bytes)).is_some();
        Ok(Some(MetaEdit::Plain { meta, fix, sum }))
    }

    /// Whether the `meta.inf` itself is edited.
    pub(super) fn fixed(&self) -> bool {
        match self {
            MetaEdit::Plain { fix, .. } => fix.is_some(),
            MetaEdit::Made { fixed, .. } => *fixed,
        }
    }

    /// How many edits it makes.
    pub(super) fn len(&self) -> usize {
        match self {
            MetaEdit::Plain { fix, sum, .. } => usize::from(fix.is_some()) + usize::from(*sum),
            MetaEdit::Made { edits, .. } => edits.len(),
        }
    }

    /// Its edits, made.
    pub(super) fn edits(&self) -> Vec<Change> {
        match self {
            MetaEdit::Plain { meta, fix, .. } => {
                let edits = make(meta, fix.as_ref());
                debug_assert_eq!(edits.len(), self.len(), "as decided");
                edits
            }
            MetaEdit::Made { edits, .. } => edits.clone(),
        }
    }
}

/// The edits of one `meta.inf` (when `fix` is given) and its `meta.sum` (when that changes).
fn make(meta: &MetaFile, fix: Option<&Fix>) -> Vec<Change> {
    let mut changes = Vec::new();
    let (after, sum_reason) = match fix {
        Some(fix) => {
            let plain = apply_fix(meta.json_bytes(), fix);
            let (after, edit) = match &meta.sealed {
                None => {
                    let diff = diff::unified(&meta.path, Some(&meta.bytes), &plain);
                    let edit = Edit::new(
                        meta.path.clone(),
                        fix.reason(),
                        meta.mode,
                        Some(&meta.bytes),
                        &plain,
                        diff,
                    );
                    (plain, edit)
                }
                // Sealed again with the same asset key (meta.key unchanged); the diff shows
                // the decrypted change, before/after the real bytes.
                Some(sealed) => {
                    let after = sealed.asset.seal(&plain);
                    let label = format!("{} (decrypted)", meta.path);
                    let edit = Edit::new_binary(
                        meta.path.clone(),
                        format!(
                            "{} (encrypted: sealed again with its own key)",
                            fix.reason()
                        ),
                        meta.mode,
                        Some(&meta.bytes),
                        &after,
                        diff::unified(&label, Some(&sealed.plain), &plain),
                    );
                    (after, edit)
                }
            };
            changes.push(Change::Edit(edit));
            (
                after,
                "recomputed for the edited meta.inf, or the server skips it".to_string(),
            )
        }
        None => (
            meta.bytes.to_vec(),
            format!(
                "meta.sum was {}; recomputed so the server does not skip it",
                report::checksum_word(meta.checksum())
            ),
        ),
    };
    if let Some(sum) = new_sum(meta, &after) {
        let (before, mode) = match &meta.sum {
            Some((bytes, mode)) => (Some(bytes.as_slice()), *mode),
            None => (None, DEFAULT_FILE_MODE),
        };
        changes.push(Change::Edit(Edit::new(
            meta.sum_path(),
            sum_reason,
            mode,
            before,
            sum.as_bytes(),
            diff::unified(&meta.sum_path(), before, sum.as_bytes()),
        )));
    }
    changes
}

/// The `meta.sum` of a `meta.inf` that will hold `after`, unless the file has it already.
fn new_sum(meta: &MetaFile, after: &[u8]) -> Option<String> {
    let sum = crate::store::checksum::meta_sum(&meta.key_name, after);
    let current = meta.sum.as_ref().map(|(bytes, _)| bytes.as_slice());
    (current != Some(sum.as_bytes())).then_some(sum)
}

fn apply_fix(bytes: &[u8], fix: &Fix) -> Vec<u8> {
    let members = |b: &[u8]| json::parse_object(b).expect("already parsed once").members;
    let mut out = bytes.to_vec();
    if fix.drop_placement {
        out = json::remove_member(&out, &members(&out), "placement");
    }
    if let Some(raw) = fix.new_replicas() {
        out = json::replace_value(&out, &members(&out), "num_replicas", raw);
    }
    out
}

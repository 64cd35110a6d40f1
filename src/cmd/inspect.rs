//! `js-recover inspect`: what a store holds, changing nothing.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

use super::output::{count, human_bytes, stdout, table, table_within, wrap};
use crate::plan::survivors;
use crate::plan::tail::TailMode;
use crate::plan::RaftView;
use crate::store::inventory::Inventory;
use crate::store::report::{MetaState, Report, StreamReport, TailReport};
use crate::store::tail::SeqRange;
use crate::store::{in_use, Store};
use crate::Error;

/// Show the accounts, streams, consumers and Raft state in a store, changing nothing
///
/// For each stream: replicas, placement, retention, storage, encryption, whether its
/// meta.sum matches (a server skips a stream whose checksum is wrong) and, from
/// msgs/index.db, its message count and sequence range. For each consumer, from its o.dat:
/// its ack floor, the last sequence delivered and how many deliveries await an ack.
///
/// Then the Raft log tail: per stream, the messages this node's Raft log holds and its
/// store does not (split into those it knew were committed and those past that), deletes
/// not yet applied and the highest sequence assigned; per consumer, a log ahead of its
/// o.dat. `plan` writes these back. Message blocks of the store are read only to find the
/// last sequence of a stream whose msgs/index.db is missing or stale.
///
/// First, what the lost cluster had against what this store holds, from the survivor's
/// Raft meta state: "this survivor holds 5 of 9 streams and 8 of 11 consumers the cluster
/// had; not here: ...". Each stream and consumer of the cluster is classified (here, behind,
/// assigned here but missing, only on other peers, memory storage, unknown to the cluster);
/// `--server-name` names the servers behind the peer ids.
///
/// Warnings name what puts data at risk: interest and work-queue streams (with each
/// consumer's ack floor against the stream's sequences), consumers ahead of their stream,
/// unreadable files, mirrors and sources whose origin is not in this store, and every
/// stream and consumer the cluster had that is not here.
///
/// Examples:
///   js-recover inspect /srv/survivor
///   js-recover inspect /srv/survivor/jetstream --json | jq '.accounts[].streams[].name'
///   js-recover inspect /srv/survivor --key-file /etc/nats/js.key --cipher aes
///   js-recover inspect /srv/survivor --server-name n1 --server-name n2 --server-name n3
///   js-recover inspect /srv/n1 --from /srv/n2     # which survivor holds the best copy
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InspectArgs {
    /// The store: a nats-server store_dir (the parent of `jetstream/`) or `jetstream/` itself
    pub store: PathBuf,
    #[command(flatten)]
    pub keys: super::keys::KeyArgs,
    #[command(flatten)]
    pub names: super::names::NameArgs,
    /// Another survivor's store (give it once per survivor): show, per stream and consumer,
    /// which survivor holds which copy and which `plan --from` would choose, and what no
    /// survivor holds
    #[arg(long = "from", value_name = "STORE")]
    pub from: Vec<PathBuf>,
    /// With --from: when copies disagree, the store whose copy `plan` would take
    #[arg(long, value_name = "STORE", requires = "from")]
    pub prefer: Option<PathBuf>,
    /// Print the report as JSON (schema `js-recover/inspect`) on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InspectArgs) -> Result<(), Error> {
    let keys = args.keys.load()?;
    let store = Store::open_with(&args.store, keys.as_ref())?;
    let names = args.names.names();
    let report = if args.from.is_empty() {
        let view = RaftView::read(&store);
        Inspected {
            report: Report::new(
                &store,
                Inventory::new(&store, &view.cluster, &names),
                &view.tails,
            ),
            survivors: None,
        }
    } else {
        let sources = args
            .from
            .iter()
            .map(|p| Store::open_with(p, keys.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let survivors = survivors::read_all(store.clone(), sources)?;
        let (section, inventory) =
            survivors::choose(&survivors, TailMode::All, args.prefer.as_deref(), &names)?;
        Inspected {
            report: Report::new(&store, inventory, &survivors[0].view.tails),
            survivors: Some(section),
        }
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("a report always serializes");
        stdout(&(json + "\n"))?;
    } else {
        stdout(&render(&report))?;
    }
    let scan = in_use::scan(&store.root);
    if !scan.holders.is_empty() {
        crate::term::eprintln(&format!(
            "warning: the store is in use by {}; what it shows may already have changed",
            in_use::describe(&scan.holders)
        ));
    }
    super::warn_undetermined(&scan.undetermined);
    // The report shows everything readable; a file the server cannot load, or a key that
    // does not open one, still fails the run.
    if let Some(e) = store.first_malformed() {
        return Err(e.into());
    }
    match store.first_unopened() {
        Some((why, what, path)) => Err(crate::plan::PlanError::unopened(why, &what, &path).into()),
        None => Ok(()),
    }
}

/// What `inspect` prints: the store's report and, with `--from`, the survivors section
/// (`survivors` in the JSON, documented in [`crate::plan::survivors`]).
#[derive(Debug, serde::Serialize)]
struct Inspected {
    #[serde(flatten)]
    report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    survivors: Option<survivors::Survivors>,
}

fn render(inspected: &Inspected) -> String {
    let report = &inspected.report;
    let width = super::output::width();
    let mut out = format!("store `{}`\n", report.store);
    out.push_str(&wrap(&report.inventory.headline(), width, "", "  "));
    let tail = &report.tail;
    if !tail.streams.is_empty() || !tail.consumers.is_empty() {
        let messages: usize = tail.streams.iter().map(|s| s.messages).sum();
        out.push_str(&wrap(
            &format!(
                "this node's Raft logs hold {} and the newer state of {} that the store lacks; \
                 `plan` writes them back",
                count(messages, "message", "messages"),
                count(tail.consumers.len(), "consumer", "consumers")
            ),
            width,
            "",
            "  ",
        ));
    }
    if report.accounts.iter().all(|a| a.streams.is_empty()) {
        out.push_str("\nno streams\n");
    }
    for account in &report.accounts {
        let consumers: usize = account.streams.iter().map(|s| s.consumers.len()).sum();
        out.push_str(&format!(
            "\naccount {}  ({}, {})\n",
            account.name,
            count(account.streams.len(), "stream", "streams"),
            count(consumers, "consumer", "consumers")
        ));
        if account.streams.is_empty() {
            continue;
        }
        let mut rows = vec![[
            "STREAM",
            "R",
            "RETENTION",
            "MESSAGES",
            "BYTES",
            "SEQUENCES",
            "META",
            "CHECKSUM",
            "STORAGE",
            "PLACEMENT",
        ]
        .map(String::from)
        .to_vec()];
        rows.extend(account.streams.iter().map(stream_row));
        // Narrow terminals lose placement, then storage, then bytes.
        out.push_str(&table_within(&rows, "  ", width, &[9, 8, 4]));
        if consumers == 0 {
            continue;
        }
        let mut rows = vec![[
            "CONSUMER",
            "OF STREAM",
            "R",
            "ACK",
            "UNACKED",
            "ACK FLOOR",
            "DELIVERED",
            "META",
            "CHECKSUM",
        ]
        .map(String::from)
        .to_vec()];
        for s in &account.streams {
            for c in &s.consumers {
                let replicas = match c.replicas {
                    Some(0) => "as stream".to_string(),
                    Some(n) => n.to_string(),
                    None => "?".into(),
                };
                let num = |v: Option<u64>| v.map_or_else(|| "?".into(), |n| n.to_string());
                rows.push(vec![
                    if c.durable == Some(false) {
                        format!("{} (ephemeral)", c.name)
                    } else {
                        c.name.clone()
                    },
                    s.name.clone(),
                    replicas,
                    c.ack_policy.clone().unwrap_or_else(|| "?".into()),
                    num(c.ack_pending),
                    num(c.ack_floor_stream_seq),
                    num(c.delivered_stream_seq),
                    meta_word(c.meta, c.encrypted),
                    format!("{:?}", c.checksum).to_lowercase(),
                ]);
            }
        }
        out.push('\n');
        out.push_str(&table_within(&rows, "  ", width, &[3]));
    }
    for raft in &report.raft {
        let count = |k| raft.groups.iter().filter(|g| g.kind == k).count();
        use crate::store::RaftKind::*;
        out.push('\n');
        out.push_str(&wrap(
            &format!(
                "raft state `{}` (account {}): {} meta, {} stream, {} consumer groups; {} files, {}",
                raft.dir,
                raft.account,
                count(Meta),
                count(Stream),
                count(Consumer),
                raft.files,
                human_bytes(raft.bytes)
            ),
            width,
            "",
            "  ",
        ));
    }
    if let Some(section) = &inspected.survivors {
        out.push_str(&render_survivors(section));
    }
    out.push_str(&render_tail(tail));
    if !report.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for w in &report.warnings {
            out.push_str(&wrap(&w.message, width, "  - ", "    "));
        }
    }
    out
}

/// Several survivors: per stream and consumer, each survivor's copy and the one `plan
/// --from` takes.
fn render_survivors(section: &survivors::Survivors) -> String {
    let stores: Vec<&String> = std::iter::once(&section.target)
        .chain(&section.sources)
        .collect();
    let mut out = format!(
        "\nsurvivors: the target `{}`, and {}\n",
        section.target,
        section
            .sources
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut header = vec!["STREAM / CONSUMER".to_string()];
    header.extend((0..stores.len()).map(|i| format!("COPY {}", i + 1)));
    header.extend(["CHOSEN".to_string(), "WHY".to_string()]);
    let mut rows = vec![header];
    let number = |store: &String| {
        stores
            .iter()
            .position(|s| *s == store)
            .map_or("?".into(), |i| (i + 1).to_string())
    };
    let why = |r: survivors::Rule| match r {
        survivors::Rule::OnlyCopy => "only copy",
        survivors::Rule::AppliedFurther => "applied further",
        survivors::Rule::LaterTimestamp => "later last message",
        survivors::Rule::MoreConsumers => "more consumers",
        survivors::Rule::Equal => "equal",
        survivors::Rule::Preferred => "--prefer",
    };
    for st in &section.streams {
        let mut row = vec![format!("{}/{}", st.account, st.stream)];
        row.extend(stores.iter().map(|s| {
            st.copies
                .iter()
                .find(|c| &c.store == *s)
                .map_or("-".into(), |c| format!("last {}", c.last_seq))
        }));
        row.extend([number(&st.chosen), why(st.rule).into()]);
        rows.push(row);
        for c in section
            .consumers
            .iter()
            .filter(|c| c.account == st.account && c.stream == st.stream)
        {
            let mut row = vec![format!("  > {}", c.consumer.as_deref().unwrap_or("?"))];
            row.extend(stores.iter().map(|s| {
                c.copies
                    .iter()
                    .find(|x| &x.store == *s)
                    .map_or("-".into(), |x| {
                        format!("floor {}, delivered {}", x.ack_floor, x.delivered)
                    })
            }));
            row.extend([number(&c.chosen), why(c.rule).into()]);
            rows.push(row);
        }
    }
    out.push_str(&table(&rows, "  "));
    out.push_str(
        &stores
            .iter()
            .enumerate()
            .map(|(i, s)| format!("  copy {}: {s}\n", i + 1))
            .collect::<String>(),
    );
    if !section.disagreements.is_empty() {
        out.push_str("copies that disagree (plan refuses until --prefer decides):\n");
        for d in &section.disagreements {
            out.push_str(&format!("  {d}\n"));
        }
    }
    out
}

/// The Raft log tail, as two tables (streams, consumers); empty when there is none.
fn render_tail(tail: &TailReport) -> String {
    let mut out = String::new();
    if !tail.streams.is_empty() {
        out.push_str("\nraft log tail: messages in this node's stream logs, not in the store\n");
        let mut rows = vec![[
            "STREAM",
            "MESSAGES",
            "SEQUENCES",
            "COMMITTED",
            "PAST COMMIT",
            "DELETES",
            "ASSIGNED TO",
        ]
        .map(String::from)
        .to_vec()];
        for s in &tail.streams {
            let mut runs = s.committed.clone();
            runs.extend(&s.past_commit);
            runs.sort_by_key(|r| r.first);
            rows.push(vec![
                format!("{}/{}", s.account, s.stream),
                s.messages.to_string(),
                if runs.is_empty() {
                    "-".into()
                } else {
                    SeqRange::show(&SeqRange::runs(runs.iter().flat_map(|r| r.first..=r.last)))
                },
                s.committed_messages.to_string(),
                (s.messages - s.committed_messages).to_string(),
                s.removals.to_string(),
                s.max_assigned.to_string(),
            ]);
        }
        out.push_str(&table(&rows, "  "));
    }
    if !tail.consumers.is_empty() {
        out.push_str("\nraft log tail: consumers whose log is ahead of o.dat\n");
        let mut rows = vec![["CONSUMER", "O.DAT", "LOG"].map(String::from).to_vec()];
        for c in &tail.consumers {
            rows.push(vec![
                format!("{}/{} > {}", c.account, c.stream, c.consumer),
                c.stored.to_string(),
                c.newest.to_string(),
            ]);
        }
        out.push_str(&table(&rows, "  "));
    }
    out
}

fn stream_row(s: &StreamReport) -> Vec<String> {
    let num = |v: &Option<u64>| v.map_or_else(|| "?".into(), |n| n.to_string());
    let placement = match &s.placement {
        None => "-".to_string(),
        Some(Value::Object(p)) => p
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    };
    let bytes = s.bytes.map_or_else(|| "?".into(), human_bytes);
    vec![
        s.name.clone(),
        s.replicas.map_or("?".into(), |r| r.to_string()),
        s.retention.clone().unwrap_or_else(|| "?".into()),
        num(&s.messages),
        bytes,
        format!("{}..{}", num(&s.first_seq), num(&s.last_seq)),
        meta_word(s.meta, s.encrypted),
        format!("{:?}", s.checksum).to_lowercase(),
        s.storage.clone().unwrap_or_else(|| "?".into()),
        placement,
    ]
}

/// The meta state's word, or `ok, encrypted` when a key opened it.
fn meta_word(meta: MetaState, encrypted: bool) -> String {
    match (meta, encrypted) {
        (MetaState::Ok, true) => "ok, encrypted".into(),
        (state, _) => state.word().into(),
    }
}

//! `js-recover plan`: write the change manifest, changing nothing in the store.

use std::path::PathBuf;

use clap::Args;

use super::output::{ensure_outside, human_bytes, write_manifest};
use crate::plan::{Change, Plan};
use crate::Error;

/// Work out what a standalone nats-server needs changed, and write it as a manifest
///
/// Plans, for every stream with num_replicas > 1 or a placement: num_replicas 1 and no
/// placement, every other byte of meta.inf as it was, and meta.sum recomputed; for every
/// consumer with num_replicas > 1: num_replicas 0 (as its stream), so the server does not
/// drop it; and removal of the lost cluster's Raft state (`jetstream/$SYS/_js_`).
///
/// Before the Raft state goes, it is read: durable consumers that interest and work-queue
/// streams need but the store lacks are recreated, and what this node's Raft logs hold
/// that its store does not (acknowledged messages, deletes, consumer acks: the tail) is
/// written back, as a new message block per stream and newer consumer o.dat files
/// (--raft-tail all, the default; `committed` writes only what this node knew was
/// committed; `none` writes nothing and lists what is lost).
///
/// The manifest (JSON) holds the exact before/after bytes, their SHA-256 and a readable
/// diff of every file, and a fingerprint of every directory to remove. Nothing in the
/// store is changed. A short summary goes to stderr; on a terminal without --out (or
/// --json) only the summary is printed.
///
/// Examples:
///   js-recover plan /srv/survivor --out plan.json
///   js-recover plan /srv/survivor | jq -r '.changes[].diff // empty'
///   js-recover plan /srv/survivor --key-file /etc/nats/js.key --out plan.json
///   js-recover plan /srv/survivor --raft-tail none --out plan.json   # see what is lost
///   js-recover plan /srv/n1 --from /srv/n2 --out plan.json           # several survivors
///
/// With --from, every survivor's store is read and the target gets, for every stream and
/// consumer any of them holds, the most complete copy (copied in; the others are only
/// read). Copies that disagree stop the plan (exit 8) until --prefer STORE decides.
///
/// For a store encrypted at rest, --key-file opens each meta.inf; it is edited like a plain
/// one and sealed again with its own key (meta.key unchanged). The diff shows the
/// decrypted JSON, so the manifest holds stream and consumer configuration in clear (never
/// message data); before/after hold the real bytes in base64.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PlanArgs {
    /// The store: a nats-server store_dir (the parent of `jetstream/`) or `jetstream/` itself
    pub store: PathBuf,
    #[command(flatten)]
    pub planning: super::planning::PlanningArgs,
    /// Write the manifest to this file (outside the store) instead of stdout
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Print the manifest (JSON) on stdout even when it is a terminal; without --out or
    /// --json, a terminal gets the summary only and a pipe gets the manifest
    #[arg(long)]
    pub json: bool,
}

/// Where the manifest goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    File(PathBuf),
    Stdout,
    /// Stdout is a terminal and no --json: the summary only, the manifest nowhere.
    SummaryOnly,
}

pub fn run(args: PlanArgs) -> Result<(), Error> {
    let opened = args.planning.open(&args.store)?;
    let plan = opened.plan(&args.planning)?;
    if let Some(out) = &args.out {
        ensure_outside(&opened.store.root, out)?;
    }
    tracing::info!(changes = plan.len(), "planned");
    let destination = match &args.out {
        Some(out) => Destination::File(out.clone()),
        None if args.json || !std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            Destination::Stdout
        }
        None => Destination::SummaryOnly,
    };
    match &destination {
        Destination::File(out) => write_manifest(Some(out), &plan)?,
        Destination::Stdout => write_manifest(None, &plan)?,
        Destination::SummaryOnly => {}
    }
    crate::term::eprint(&summary(&plan, args.out.as_ref()));
    if destination == Destination::SummaryOnly && !plan.is_empty() {
        crate::term::eprintln(&format!(
            "no manifest written (stdout is a terminal): `js-recover plan {} --out plan.json` \
             writes it for review and apply (--json prints it here)",
            super::quote(&args.store)
        ));
    }
    args.planning.check_complete(plan.head())
}

/// The few lines an operator reads on stderr.
pub(crate) fn summary(plan: &Plan, out: Option<&PathBuf>) -> String {
    let m = plan.head();
    let s = &m.summary;
    let mut text = String::new();
    if let Some(inventory) = &m.inventory {
        text.push_str(&format!("plan: {}\n", inventory.headline()));
    }
    if plan.is_empty() {
        text.push_str(&format!(
            "plan: nothing to change in `{}`: {} streams and {} consumers are already loadable by a \
             standalone server, and there is no Raft state\n",
            m.store, s.streams, s.consumers
        ));
    } else {
        text.push_str(&format!(
            "plan: {} of {} streams and {} of {} consumers to edit ({} files); {} director{} to remove ({})\n",
            s.streams_edited,
            s.streams,
            s.consumers_edited,
            s.consumers,
            s.files_edited,
            s.dirs_removed,
            if s.dirs_removed == 1 { "y" } else { "ies" },
            human_bytes(s.bytes_removed)
        ));
        if s.consumers_recreated > 0 {
            text.push_str(&format!(
                "plan: {} missing consumer{} recreated so that nothing is deleted at load\n",
                s.consumers_recreated,
                if s.consumers_recreated == 1 { "" } else { "s" }
            ));
        }
        if let Some(tail) = &m.tail {
            let dropped: u64 = tail
                .streams
                .iter()
                .flat_map(|t| &t.dropped)
                .map(|r| r.count())
                .sum();
            if s.tail_messages > 0 || s.tail_consumers > 0 {
                text.push_str(&format!(
                    "plan: from this node's Raft logs, {} messages and {} consumer states written back \
                     (--raft-tail {})\n",
                    s.tail_messages,
                    s.tail_consumers,
                    tail.mode.word()
                ));
            }
            if dropped > 0 {
                text.push_str(&format!(
                    "plan: {dropped} messages in this node's Raft logs are NOT written back (--raft-tail {}); \
                     see the raft-tail-dropped warnings\n",
                    tail.mode.word()
                ));
            }
        }
        let k = plan.kinds();
        let kinds = [
            (k.edits, "file edit", "file edits"),
            (k.mkdirs, "new directory", "new directories"),
            (k.copies, "copy", "copies"),
            (k.removes, "removal", "removals"),
        ];
        let kinds: Vec<String> = kinds
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| format!("{} {}", thousands(*n), if *n == 1 { one } else { many }))
            .collect();
        text.push_str(&format!("plan: changes: {}\n", kinds.join(", ")));
        // A store can have thousands of streams: list a screenful, the manifest has the rest.
        const LISTED: usize = 30;
        for c in plan.changes().take(LISTED) {
            match &*c {
                Change::Edit(e) => text.push_str(&format!("  edit    {}\n", e.path)),
                Change::Mkdir(d) => text.push_str(&format!("  mkdir   {}\n", d.path)),
                Change::Copy(c) => text.push_str(&format!(
                    "  copy    {} from {} ({} files, {})\n",
                    c.path,
                    super::quote(&c.source_dir()),
                    c.files,
                    human_bytes(c.bytes)
                )),
                Change::Remove(r) => {
                    text.push_str(&format!("  remove  {} ({} files)\n", r.path, r.files))
                }
            }
        }
        if plan.len() > LISTED {
            text.push_str(&format!(
                "  ... and {} more (see the manifest)\n",
                thousands(plan.len() - LISTED)
            ));
        }
    }
    // Thousands of streams can mean thousands of warnings: a screenful, counted by kind.
    const WARNINGS_LISTED: usize = 20;
    // Counted as they are made: thousands are never all held.
    let mut count = 0;
    let mut by_code: std::collections::BTreeMap<&str, usize> = Default::default();
    plan.each_warning(&mut |w| {
        if count < WARNINGS_LISTED {
            text.push_str(&format!("warning: {}\n", w.message));
        } else {
            *by_code.entry(w.code.as_str()).or_default() += 1;
        }
        count += 1;
    });
    if count > WARNINGS_LISTED {
        let counts: Vec<String> = by_code
            .iter()
            .map(|(code, n)| format!("{} {code}", thousands(*n)))
            .collect();
        text.push_str(&format!(
            "warning: ... and {} more ({}; see the manifest's `warnings`)\n",
            thousands(count - WARNINGS_LISTED),
            counts.join(", ")
        ));
    }
    if let Some(out) = out {
        text.push_str(&format!(
            "wrote `{}`; review it with `jq -r '.changes[].diff // empty' {}`\n",
            out.display(),
            super::quote(out)
        ));
    }
    text
}

/// `4990` -> `4,990`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(4990), "4,990");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}

//! `js-recover status`: what a backup directory records, and whether the store still
//! matches.

use std::path::PathBuf;

use clap::Args;

use super::output::stdout;
use crate::apply::{self, ApplyError, BackupProblem, Status};
use crate::Error;

/// Tell what was planned, applied and rolled back, and whether the store still matches
///
/// Reads the backup directory's journal (verifying its hash chain: an edited journal is
/// reported, exit 5), the plan it holds, and the store: each edited file is original, as
/// apply wrote it, or changed since; each removed directory is in the store or in the
/// backup; and what changed in the store after apply.
///
/// Examples:
///   js-recover status /srv/survivor.js-recover-20261121T120000Z
///   js-recover status /srv/survivor.js-recover-20261121T120000Z --json | jq .store_check
///   js-recover status /srv/survivor.js-recover-20261121T120000Z --files
///
/// --files lists what the backup holds: every original with its path, size and place in
/// originals.pack, the files apply created, and the directories it moved into the backup;
/// and how to take one original back by hand.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// The backup directory `apply` printed
    pub backup_dir: PathBuf,
    /// Print the status as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Also list every saved original, created file and removed directory
    #[arg(long)]
    pub files: bool,
}

pub fn run(args: StatusArgs) -> Result<(), Error> {
    let status = apply::status(&args.backup_dir)?;
    let files = if args.files {
        Some(apply::saved(&args.backup_dir)?)
    } else {
        None
    };
    if args.json {
        let mut value = serde_json::to_value(&status).expect("serializes");
        if let Some(files) = &files {
            value["files"] = serde_json::to_value(files).expect("serializes");
        }
        stdout(&(serde_json::to_string_pretty(&value).expect("serializes") + "\n"))?;
    } else {
        let mut t = text(&status);
        if let Some(files) = &files {
            t.push_str(&files_text(&status, files));
        }
        stdout(&t)?;
    }
    match &status.journal.problem {
        Some(problem) => Err(ApplyError::invalid(&status.backup_dir)(
            BackupProblem::JournalTampered(problem.clone()),
        )
        .into()),
        None => Ok(()),
    }
}

fn text(s: &Status) -> String {
    let mut t = format!(
        "backup:  {}\nstore:   {}\nstate:   {}\n",
        s.backup_dir.display(),
        s.store.display(),
        s.state.describe()
    );
    let p = &s.plan.summary;
    t.push_str(&format!(
        "plan:    made {}; {} files to edit, {} director{} to remove\n",
        s.plan.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        p.files_edited,
        p.dirs_removed,
        if p.dirs_removed == 1 { "y" } else { "ies" }
    ));
    t.push_str(&format!(
        "journal: {} entries, {}\n",
        s.journal.entries,
        match &s.journal.problem {
            None if s.journal.torn_tail => {
                "hash chain verified (the last append was cut short by a crash)".to_string()
            }
            None => "hash chain verified".to_string(),
            Some(p) => format!("DOES NOT VERIFY: {p}"),
        }
    ));
    t.push_str("\nhistory:\n");
    for h in &s.history {
        t.push_str(&format!(
            "  {}  {:<16}  {}@{}  {}\n",
            h.at.format("%Y-%m-%dT%H:%M:%SZ"),
            h.kind,
            h.user,
            h.host,
            h.detail
        ));
    }
    match &s.store_check {
        None => t.push_str("\nthe store no longer exists\n"),
        Some(c) => {
            t.push_str(&format!(
                "\nstore now: {}\n  files: {} original, {} as applied, {} changed since\n  \
                 directories: {} in the store, {} in the backup\n",
                match c.matches {
                    "applied" => "matches the applied plan",
                    "original" => "matches the original (before apply)",
                    _ => "matches neither the original nor the applied plan",
                },
                c.files_original,
                c.files_applied,
                c.files_changed.len(),
                c.dirs_in_store,
                c.dirs_in_backup
            ));
            if c.copies_placed + c.copies_staged > 0 {
                t.push_str(&format!(
                    "  copies from other survivors: {} in place, {} staged\n",
                    c.copies_placed, c.copies_staged
                ));
            }
            for line in c.files_changed.iter().chain(&c.dirs_other).take(30) {
                t.push_str(&format!("  {line}\n"));
            }
            if c.leftover_temps > 0 {
                t.push_str(&format!(
                    "  {} temporary files left by an interrupted run\n",
                    c.leftover_temps
                ));
            }
            if !c.changed_since_apply.is_empty() {
                t.push_str(&format!(
                    "  {} entries changed after apply:\n",
                    c.changed_since_apply.len()
                ));
                for line in c.changed_since_apply.iter().take(30) {
                    t.push_str(&format!("    {line}\n"));
                }
            }
        }
    }
    t.push_str(&match s.state {
        apply::record::State::Applied => format!(
            "\nundo with: js-recover rollback {}\n",
            super::quote(&s.backup_dir)
        ),
        apply::record::State::Interrupted | apply::record::State::RollingBack => format!(
            "\nput the store back with: js-recover rollback {}\n",
            super::quote(&s.backup_dir)
        ),
        _ => String::new(),
    });
    t
}

fn files_text(s: &Status, f: &apply::Saved) -> String {
    let mut t = String::from("\nsaved in this backup:\n");
    for o in &f.originals {
        t.push_str(&format!(
            "  original  {}  ({} bytes, mode {}{})\n",
            o.path,
            o.bytes,
            o.mode,
            match o.pack_offset {
                Some(at) => format!(", originals.pack at {at}"),
                None => ", only in manifest.json".into(),
            }
        ));
    }
    for c in &f.created {
        t.push_str(&format!("  created   {c}  (rollback deletes it)\n"));
    }
    for r in &f.removed {
        t.push_str(&format!(
            "  removed   {}  -> {}  ({} files, {}){}\n",
            r.path,
            r.saved_as,
            r.files,
            super::output::human_bytes(r.bytes),
            if r.in_backup {
                ""
            } else {
                "  (not in the backup now)"
            }
        ));
    }
    for c in &f.copied {
        t.push_str(&format!(
            "  copied    {}  from {}  (rollback takes it out)\n",
            c.path, c.source
        ));
    }
    t.push_str(&format!(
        "\none original by hand (stop any server on the store first):\n  \
         tail -c +$((OFFSET + 1)) {pack} | head -c BYTES > STORE/PATH\n  \
         sha256sum STORE/PATH   # must print the original's sha256 (--json lists them)\n\
         `js-recover rollback {backup}` puts everything back at once.\n",
        pack = super::quote(&s.backup_dir.join("originals.pack")),
        backup = super::quote(&s.backup_dir),
    ));
    t
}

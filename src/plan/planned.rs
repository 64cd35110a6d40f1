//! A plan as made, before it is written: the manifest, with the edits of every stream's and
//! consumer's metadata still to be made.
//!
//! At thousands of streams those edits are nearly all of a manifest (both files' text, a
//! diff and hashes for each: tens of megabytes). Planning decides them and keeps only that
//! decision (but for an encrypted `meta.inf`, sealed once with a fresh nonce and held);
//! [`Plan::changes`] makes them from the store, a batch at a time on every core, as they
//! are written or read, so the whole is never held.

use std::borrow::Cow;

use super::build::MetaEdit;
use super::manifest::{Change, Manifest, Warning};

/// A plan: [`Plan::changes`] are the metadata edits, then the head's own `changes`.
#[derive(Debug)]
pub struct Plan<'s> {
    head: Manifest,
    metas: Vec<MetaEdit<'s>>,
    /// The store planned, whose warnings come before the head's own (see
    /// [`Plan::warnings`]).
    store: Option<&'s crate::store::Store>,
}

/// How many metadata files are made at once: enough to keep every core busy, few enough
/// that their text is a megabyte or so.
const BATCH: usize = 256;

/// How many changes of each kind a plan has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds {
    pub edits: usize,
    pub mkdirs: usize,
    pub copies: usize,
    pub removes: usize,
}

impl<'s> Plan<'s> {
    pub(super) fn new(
        head: Manifest,
        metas: Vec<MetaEdit<'s>>,
        store: &'s crate::store::Store,
    ) -> Plan<'s> {
        Plan {
            head,
            metas,
            store: Some(store),
        }
    }

    /// A plan whose changes are all made already (several survivors).
    pub fn from_manifest(manifest: Manifest) -> Plan<'s> {
        Plan {
            head: manifest,
            metas: Vec::new(),
            store: None,
        }
    }

    /// Everything but the changes and warnings: its `changes` are only the last of them
    /// (use [`Plan::changes`]), its `warnings` only the last of them (use
    /// [`Plan::warnings`]).
    pub fn head(&self) -> &Manifest {
        &self.head
    }

    /// Every warning: the store's (made again each time: thousands at thousands of
    /// streams, never held), then what planning found.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut all = Vec::new();
        self.each_warning(&mut |w| all.push(w));
        all
    }

    /// [`Plan::warnings`], each handed to `each` as it is made.
    pub fn each_warning(&self, each: &mut dyn FnMut(Warning)) {
        if let Some(store) = self.store {
            crate::store::report::each_warning(store, each);
        }
        self.head.warnings.iter().cloned().for_each(each);
    }

    /// How many changes there are.
    pub fn len(&self) -> usize {
        self.metas.iter().map(MetaEdit::len).sum::<usize>() + self.head.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many changes of each kind.
    pub fn kinds(&self) -> Kinds {
        let mut kinds = Kinds {
            edits: self.metas.iter().map(MetaEdit::len).sum(),
            ..Kinds::default()
        };
        for c in &self.head.changes {
            match c {
                Change::Edit(_) => kinds.edits += 1,
                Change::Mkdir(_) => kinds.mkdirs += 1,
                Change::Copy(_) => kinds.copies += 1,
                Change::Remove(_) => kinds.removes += 1,
            }
        }
        kinds
    }

    /// Every change, in order, made as it comes.
    pub fn changes(&self) -> impl Iterator<Item = Cow<'_, Change>> + '_ {
        self.metas
            .chunks(BATCH)
            .flat_map(|batch| {
                crate::par::map_chunks(batch, crate::par::cores(), |part| {
                    part.iter().flat_map(MetaEdit::edits).collect::<Vec<_>>()
                })
                .into_iter()
                .flatten()
                .map(Cow::Owned)
            })
            .chain(self.head.changes.iter().map(Cow::Borrowed))
    }

    /// Writes the manifest, byte for byte as [`Manifest::write_to`] writes
    /// [`Plan::into_manifest`], its changes made as they are written.
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        super::manifest::write_parts(
            w,
            &self.head,
            &|each| self.each_warning(each),
            self.changes().map(|c| super::manifest::change_text(&c)),
        )
    }

    /// The manifest, every change made and held.
    pub fn into_manifest(self) -> Manifest {
        let changes: Vec<Change> = self.changes().map(Cow::into_owned).collect();
        let warnings = self.warnings();
        Manifest {
            changes,
            warnings,
            ..self.head
        }
    }
}

//! The options `plan` and `prepare` share: how the store is read, and what the plan does
//! about what the lost cluster had that the store lacks.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::plan::tail::TailMode;
use crate::plan::{self as plan, survivors, Manifest, PlanOptions};
use crate::store::Store;
use crate::Error;

#[derive(Debug, Args)]
pub struct PlanningArgs {
    #[command(flatten)]
    pub keys: super::keys::KeyArgs,
    #[command(flatten)]
    pub names: super::names::NameArgs,
    /// Do not recreate durable consumers that interest and work-queue streams need but
    /// the store lacks; the warnings then name the messages the server deletes at load
    #[arg(long)]
    pub no_recreate_consumers: bool,
    /// Exit 7 when anything the cluster had is not (or not all) in this store, by its Raft
    /// state (the plan is still written)
    #[arg(long)]
    pub require_complete: bool,
    /// What of the Raft logs' tail (messages and acks this node logged but its stores do
    /// not hold) to write into the store: all of it, only what this node knew was
    /// committed, or none (the plan then lists what is lost)
    #[arg(long, value_enum, default_value_t = TailMode::All, value_name = "WHAT")]
    pub raft_tail: TailMode,
    /// Another survivor's store (give it once per survivor): the plan makes the target hold
    /// the most complete copy of every stream and consumer any of them holds, copying it in
    /// (survivors are only read)
    #[arg(long = "from", value_name = "STORE")]
    pub from: Vec<PathBuf>,
    /// When survivors' copies of a stream or consumer disagree, take this store's (the
    /// target or a --from)
    #[arg(long, value_name = "STORE", requires = "from")]
    pub prefer: Option<PathBuf>,
}

/// The stores a plan is made of, open and not in use.
pub struct Opened {
    pub store: Store,
    /// Several survivors (--from): every one's store and Raft state.
    survivors: Option<Vec<survivors::Survivor>>,
}

impl Opened {
    /// Plans (the changes are made as they are written: see [`plan::Plan`]).
    pub fn plan(&self, args: &PlanningArgs) -> Result<plan::Plan<'_>, Error> {
        let Some(survivors) = &self.survivors else {
            return Ok(plan::plan_with(&self.store, super::now(), &args.options())?);
        };
        let manifest = survivors::plan_survivors(
            survivors,
            super::now(),
            &args.options(),
            args.prefer.as_deref(),
        )?;
        Ok(plan::Plan::from_manifest(manifest))
    }
}

impl PlanningArgs {
    /// Opens the target store (and every --from) and refuses any in use.
    pub fn open(&self, target: &Path) -> Result<Opened, Error> {
        let keys = self.keys.load()?;
        let store = Store::open_with(target, keys.as_ref())?;
        tracing::info!("store read");
        super::refuse_if_in_use(&store.root)?;
        tracing::info!("not in use");
        if self.from.is_empty() {
            return Ok(Opened {
                store,
                survivors: None,
            });
        }
        let sources = self
            .from
            .iter()
            .map(|p| {
                let s = Store::open_with(p, keys.as_ref())?;
                super::refuse_if_in_use(&s.root)?;
                Ok(s)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let survivors = survivors::read_all(store.clone(), sources)?;
        Ok(Opened {
            store,
            survivors: Some(survivors),
        })
    }

    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            names: self.names.names(),
            recreate_consumers: !self.no_recreate_consumers,
            raft_tail: self.raft_tail,
        }
    }

    /// With `--require-complete`, refuses a plan of a store that lacks part of the cluster.
    pub fn check_complete(&self, manifest: &Manifest) -> Result<(), Error> {
        let Some(inventory) = manifest
            .inventory
            .as_ref()
            .filter(|_| self.require_complete)
        else {
            return Ok(());
        };
        let missing = inventory.missing().count()
            + inventory
                .streams
                .iter()
                .flat_map(|s| std::iter::once(s).chain(&s.consumers))
                .filter(|a| a.class == crate::store::inventory::Class::HereBehind)
                .count();
        if missing == 0 && inventory.available {
            return Ok(());
        }
        Err(Error::Incomplete {
            missing,
            headline: inventory.headline(),
        })
    }
}

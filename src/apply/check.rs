//! What apply checks before it writes anything: that the manifest is one `plan` could have
//! written (safe paths, consistent hashes), and that the store is still exactly what the plan
//! saw.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::Mismatch;
use super::ApplyError;
use crate::plan::manifest::{sha256_hex, SCHEMA, SCHEMA_VERSION};
use crate::plan::{Change, Manifest};
use crate::store::tree::{self, Entry};
use crate::store::JETSTREAM_DIR;

/// A manifest read from disk, with the exact bytes it was read from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub store: PathBuf,
}

/// Parses and validates manifest `bytes` (read from `path`, named in errors).
pub fn load(path: &Path, bytes: Vec<u8>) -> Result<Loaded, ApplyError> {
    let bad = |detail: String| ApplyError::Manifest {
        path: path.to_path_buf(),
        detail,
    };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("it is not a plan ({e})")))?;
    if manifest.schema != SCHEMA || manifest.schema_version != SCHEMA_VERSION {
        return Err(bad(format!(
            "schema `{}` version {} is not `{SCHEMA}` version {SCHEMA_VERSION}",
            manifest.schema, manifest.schema_version
        )));
    }
    validate(&manifest).map_err(bad)?;
    Ok(Loaded {
        store: PathBuf::from(&manifest.store),
        sha256: sha256_hex(&bytes),
        manifest,
        bytes,
    })
}

/// A manifest may only touch what `plan` touches: `meta.inf`/`meta.sum` files and whole
/// directories under `jetstream/`, each named once, by a relative path that stays inside the
/// store, with contents matching their hashes.
pub fn validate(m: &Manifest) -> Result<(), String> {
    if !Path::new(&m.store).is_absolute() {
        return Err(format!("its store `{}` is not an absolute path", m.store));
    }
    let mut seen = BTreeSet::new();
    let mut removed = Vec::new();
    for change in &m.changes {
        let path = change.path();
        if !safe_relative(path) || !path.starts_with(&format!("{JETSTREAM_DIR}/")) {
            return Err(format!(
                "the path `{path}` leaves the store's `jetstream/` directory"
            ));
        }
        if !seen.insert(path.to_string()) {
            return Err(format!("`{path}` is changed twice"));
        }
        match change {
            Change::Edit(e) => {
                let name = path.rsplit('/').next().unwrap_or_default();
                if name != "meta.inf" && name != "meta.sum" {
                    return Err(format!(
                        "`{path}` is not a meta.inf or meta.sum file; plans edit nothing else"
                    ));
                }
                let after = e
                    .after_bytes()
                    .map_err(|err| format!("`{path}`: bad base64 ({err})"))?;
                if sha256_hex(&after) != e.after_sha256 {
                    return Err(format!("`{path}`: `after` does not match `after_sha256`"));
                }
                let before = e
                    .before_bytes()
                    .map_err(|err| format!("`{path}`: bad base64 ({err})"))?;
                if before.as_deref().map(sha256_hex) != e.before_sha256 {
                    return Err(format!("`{path}`: `before` does not match `before_sha256`"));
                }
                if e.mode & !0o7777 != 0 {
                    return Err(format!(
                        "`{path}`: mode {:o} is not a permission mode",
                        e.mode
                    ));
                }
            }
            Change::Remove(_) => removed.push(path.to_string()),
        }
    }
    for r in &removed {
        if let Some(inner) = seen
            .iter()
            .find(|p| *p != r && p.starts_with(&format!("{r}/")))
        {
            return Err(format!("`{inner}` is inside `{r}`, which is also removed"));
        }
    }
    Ok(())
}

/// A relative, `/`-separated path of plain names: no `..`, `.`, empty parts or leading `/`.
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
}

/// The temporary sibling apply (`tmp`) or rollback (`restore`) writes before a rename.
pub fn sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.js-recover.{tag}"))
}

/// Refuses paths whose parent directories are not plain directories of the store (a symlink
/// there could lead a write outside it), checking each shared parent directory once.
#[derive(Debug, Default)]
pub struct Ancestors {
    checked: std::collections::HashSet<PathBuf>,
}

impl Ancestors {
    pub fn check(&mut self, root: &Path, rel: &str) -> Result<PathBuf, Mismatch> {
        let mut at = root.to_path_buf();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            at.push(part);
            if self.checked.contains(&at) {
                continue;
            }
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {
                    self.checked.insert(at.clone());
                }
                Ok(_) => {
                    return Err(Mismatch {
                        path: rel.into(),
                        detail: format!("`{}` is not a directory (a symlink?)", at.display()),
                    })
                }
                Err(_) => {
                    return Err(Mismatch {
                        path: rel.into(),
                        detail: format!("`{}` does not exist", at.display()),
                    })
                }
            }
        }
        Ok(root.join(rel))
    }
}

/// An edited file as apply found it.
#[derive(Debug, Clone)]
pub struct Original {
    /// Position in the manifest's changes.
    pub index: usize,
    /// `None`: the file does not exist yet.
    pub bytes: Option<Vec<u8>>,
    /// Its metadata, or for a new file, its parent directory's (for the owner).
    pub entry: Entry,
}

/// Checks every change against the store; returns the originals of edited files, or every
/// mismatch found.
pub fn against_store(root: &Path, m: &Manifest) -> Result<Vec<Original>, ApplyError> {
    let mut originals = Vec::new();
    let mut drift = Vec::new();
    let mut ancestors = Ancestors::default();
    for (index, change) in m.changes.iter().enumerate() {
        let abs = match ancestors.check(root, change.path()) {
            Ok(p) => p,
            Err(mismatch) => {
                drift.push(mismatch);
                continue;
            }
        };
        let found = |detail: String| Mismatch {
            path: change.path().into(),
            detail,
        };
        match change {
            Change::Edit(e) => {
                let tmp = sibling(&abs, "tmp");
                if tmp.symlink_metadata().is_ok() {
                    drift.push(found(format!(
                        "`{}` is left over from an apply that was interrupted; roll that one back first",
                        tmp.display()
                    )));
                    continue;
                }
                match read_no_follow(&abs) {
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        if e.before_sha256.is_some() {
                            drift.push(found("it no longer exists".into()));
                            continue;
                        }
                        let parent = abs.parent().expect("a store path has a parent");
                        let entry = Entry::stat(parent, String::new())?;
                        originals.push(Original {
                            index,
                            bytes: None,
                            entry,
                        });
                    }
                    Err(err)
                        if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) =>
                    {
                        drift.push(found("it is a symlink now, not a regular file".into()))
                    }
                    Err(err) => return Err(ApplyError::io("read", &abs)(err)),
                    Ok((meta, _)) if !meta.is_file() => {
                        drift.push(found("it is no longer a regular file".into()))
                    }
                    Ok((meta, bytes)) => {
                        let sha = sha256_hex(&bytes);
                        if e.before_sha256.as_deref() != Some(sha.as_str()) {
                            drift.push(found(match &e.before_sha256 {
                                _ if sha == e.after_sha256 => {
                                    "it already has the contents this plan writes (applied already?)"
                                        .into()
                                }
                                None => "it exists now; the plan would create it".into(),
                                Some(want) => format!(
                                    "its contents changed (sha256 {}, the plan expects {})",
                                    &sha[..12],
                                    &want[..want.len().min(12)]
                                ),
                            }));
                            continue;
                        }
                        if meta.mode() & 0o7777 != e.mode {
                            drift.push(found(format!(
                                "its mode is {:04o}, the plan saw {:04o}",
                                meta.mode() & 0o7777,
                                e.mode
                            )));
                            continue;
                        }
                        originals.push(Original {
                            index,
                            bytes: Some(bytes),
                            entry: Entry::from_metadata(&meta, change.path().into()),
                        });
                    }
                }
            }
            Change::Remove(r) => match std::fs::symlink_metadata(&abs) {
                Ok(meta) if meta.is_dir() => {
                    let now = tree::summarize(&abs)?;
                    if now.fingerprint != r.fingerprint {
                        drift.push(found(format!(
                            "its contents changed: {} files, {} bytes now; the plan saw {} files, {} bytes",
                            now.files, now.bytes, r.files, r.bytes
                        )));
                    }
                }
                Ok(_) => drift.push(found("it is no longer a directory".into())),
                Err(_) => drift.push(found(
                    "it no longer exists (removed by an earlier apply?)".into(),
                )),
            },
        }
    }
    if drift.is_empty() {
        Ok(originals)
    } else {
        Err(ApplyError::Drift(drift))
    }
}

/// Reads a file without following a symlink at its last component: one open, one fstat.
fn read_no_follow(path: &Path) -> std::io::Result<(std::fs::Metadata, Vec<u8>)> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if meta.is_file() {
        file.read_to_end(&mut bytes)?;
    }
    Ok((meta, bytes))
}

/// Refuses a store that a running process (a nats-server, most likely) holds files of:
/// editing under a live server would race it.
pub fn refuse_if_in_use(root: &Path) -> Result<(), ApplyError> {
    let holders = crate::store::in_use::holders(root);
    if holders.is_empty() {
        return Ok(());
    }
    Err(ApplyError::InUse {
        path: root.to_path_buf(),
        holders: crate::store::in_use::describe(&holders),
    })
}

/// Where `backup` resolves to, refusing it inside the store. `backup` need not exist yet,
/// but its parent must.
pub fn outside_store(store: &Path, backup: &Path) -> Result<PathBuf, ApplyError> {
    let abs = if backup.is_absolute() {
        backup.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(ApplyError::io("read", "the current directory"))?
            .join(backup)
    };
    let parent = abs.parent().unwrap_or(Path::new("/"));
    let parent = parent
        .canonicalize()
        .map_err(ApplyError::io("find", parent))?;
    let resolved = match abs.file_name() {
        Some(name) => parent.join(name),
        None => parent,
    };
    let store = store
        .canonicalize()
        .map_err(ApplyError::io("find", store))?;
    let resolved = resolved.canonicalize().unwrap_or(resolved);
    if resolved.starts_with(&store) || store.starts_with(&resolved) {
        return Err(ApplyError::BackupInsideStore {
            path: backup.to_path_buf(),
            store,
        });
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for p in ["", "/etc/passwd", "jetstream/../x", "a//b", "./a", "a/."] {
            assert!(!safe_relative(p), "{p}");
        }
        assert!(safe_relative("jetstream/$SYS/_js_"));
    }

    #[test]
    fn a_backup_in_or_around_the_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s");
        std::fs::create_dir_all(store.join("jetstream")).unwrap();
        assert!(outside_store(&store, &store.join("bk")).is_err());
        assert!(outside_store(&store, &store.join("jetstream/bk")).is_err());
        assert!(outside_store(&store, dir.path()).is_err());
        assert!(outside_store(&store, &dir.path().join("bk")).is_ok());
    }
}

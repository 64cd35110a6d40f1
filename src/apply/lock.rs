//! One js-recover at a time per store: an advisory `flock` on the store directory itself,
//! so nothing is written into the store to take it and a killed process releases it.

use std::fs::File;
use std::path::Path;

use super::ApplyError;

/// Held until dropped (or the process ends, however it ends).
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

impl Lock {
    /// Takes the lock on directory `dir`, or refuses at once if another process holds it.
    pub fn acquire(dir: &Path) -> Result<Lock, ApplyError> {
        let file = File::open(dir).map_err(ApplyError::io("open", dir))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _dir: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ApplyError::Locked {
                path: dir.to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(ApplyError::Io {
                action: "lock",
                path: dir.to_path_buf(),
                source: e,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path()).unwrap();
        assert!(matches!(
            Lock::acquire(dir.path()),
            Err(ApplyError::Locked { .. })
        ));
        drop(first);
        Lock::acquire(dir.path()).unwrap();
    }
}

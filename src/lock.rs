//! One process at a time: an exclusive lock on a file beside what it guards (the state
//! store, the in-process emulator's state), holding the holder's process id.
//!
//! The lock is the operating system's (`flock`): it goes when the process goes, also on
//! `kill -9`, so a crashed run never leaves a stale lock behind. The file keeps the last
//! holder's pid, so a refused process can say who holds it. The file itself stays: deleting
//! a lock file while another process may be opening it would let two processes each lock
//! a different file.
//!
//! It must not wait: a second writer is refused at once, with the holder's pid.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Errors of taking a lock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the lock.
    #[error("another ferry process ({holder}) is using {what}: it holds {path}; {advice}")]
    Held {
        /// What the lock guards (`the state store .ferry/state.db`).
        what: String,
        /// `pid 4242`, or `pid unknown` when it has not written it yet.
        holder: String,
        /// The lock file.
        path: PathBuf,
        /// What to do.
        advice: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    _file: File,
}

impl Lock {
    /// Take the lock on `path` (created if missing, with its directory) for `what`, or say
    /// who holds it and `advice` on what to do.
    ///
    /// # Errors
    /// [`Error::Held`] when another process holds it, [`Error::Io`] when the file cannot be
    /// created or locked.
    pub fn acquire(path: &Path, what: &str, advice: &str) -> Result<Lock, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let pid = holder.trim();
                return Err(Error::Held {
                    what: what.to_owned(),
                    holder: if pid.is_empty() {
                        "pid unknown".to_owned()
                    } else {
                        format!("pid {pid}")
                    },
                    path: path.to_path_buf(),
                    advice: advice.to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Lock {
            path: path.to_path_buf(),
            _file: file,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file guarding the state store at `state`: `<state>.lock`.
pub fn state_lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// The writer lock of the state store at `state`: `ferry apply` and `ferry serve` write to
/// a store one at a time; a second one is refused at once with the holder's pid. (`plan`,
/// `status` and the API only read and need none.)
///
/// # Errors
/// [`Error::Held`] naming the holder, or [`Error::Io`].
pub fn state_store(state: &Path) -> Result<Lock, Error> {
    Lock::acquire(
        &state_lock_path(state),
        &format!("the state store {}", state.display()),
        "`ferry apply` and `ferry serve` write to a state store one at a time: wait for it to finish or stop it, or give this run another store with --state",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_lock_path(&dir.path().join("state").join("state.db"));
        assert!(path.ends_with("state/state.db.lock"));
        let first = Lock::acquire(&path, "the state store", "stop it").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::process::id().to_string()
        );
        // Another open file description conflicts just like another process does.
        let err = Lock::acquire(&path, "the state store", "stop it first").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "another ferry process (pid {}) is using the state store: it holds {}; stop it first",
                std::process::id(),
                path.display()
            )
        );
        drop(first);
        let again = Lock::acquire(&path, "the state store", "stop it").unwrap();
        assert_eq!(again.path(), path);
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        std::fs::write(&path, "4194303999").unwrap();
        let lock = Lock::acquire(&path, "x", "y").unwrap();
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap(),
            std::process::id().to_string()
        );
    }
}

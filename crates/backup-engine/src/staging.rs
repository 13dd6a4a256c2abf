//! Staging files of the local-directory store.
//!
//! `LocalFileSystem` writes each object to `<object>#<n>` and renames it into place when the
//! write completes. A process killed in between leaves that staging file behind, and the store's
//! listing never shows it (names ending in `#<digits>` are not objects), so GC and usage would
//! never see it. With [`EngineConfig::local_root`](crate::EngineConfig::local_root) set, both
//! look for such files in the project's directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{EngineError, Result};

/// A staging file no write may still be using is at least this old, whatever GC's grace: a
/// 16 MiB pack is written in well under a minute.
pub(crate) const MIN_AGE: Duration = Duration::from_secs(15 * 60);

/// One file left by an unfinished write.
#[derive(Debug)]
pub(crate) struct StagingFile {
    pub path: PathBuf,
    pub size: u64,
    pub age: Duration,
}

/// The staging files under `dir` (recursively); none when `dir` does not exist.
pub(crate) async fn find(dir: PathBuf) -> Result<Vec<StagingFile>> {
    tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        walk(&dir, &mut found)?;
        Ok(found)
    })
    .await
    .map_err(|e| EngineError::Pipeline(format!("staging file scan: {e}")))?
}

fn walk(dir: &Path, found: &mut Vec<StagingFile>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(EngineError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(dir, e))?;
        let path = entry.path();
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Renamed or removed since the directory was read: a write that just finished.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(EngineError::io(&path, e)),
        };
        if meta.is_dir() {
            walk(&path, found)?;
        } else if entry.file_name().to_str().is_some_and(is_staging_name) {
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            found.push(StagingFile { path, size: meta.len(), age });
        }
    }
    Ok(())
}

/// `<name>#<digits>`: what `LocalFileSystem` stages a write in (its listing hides these names).
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(object, n)| {
        !object.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_told_from_objects() {
        assert!(is_staging_name("00000000000000a1.pack#3"));
        assert!(is_staging_name("backup-1.manifest#12"));
        assert!(!is_staging_name("00000000000000a1.pack"));
        assert!(!is_staging_name("x#"));
        assert!(!is_staging_name("x#1a"));
        assert!(!is_staging_name("#1"));
    }
}

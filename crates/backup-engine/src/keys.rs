//! Object keys of one project.
//!
//! Every key of a project lives under `{root}/projects/{project}/`, and every key the engine
//! reads is built here from validated ids, so a project can never name an object of another
//! project: a manifest stores pack ids, not keys, and pack ids are resolved under the reading
//! project's own prefix.

use object_store::path::Path;

use crate::error::{EngineError, Result};
use crate::format::PackId;

/// Ids are tokens of 1–64 of `[A-Za-z0-9_-]`: project ids as OpenStack issues them, backup ids
/// as UUID strings. Anything else could smuggle a `/` or `..` into a key.
pub(crate) fn validate_id(kind: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidInput(format!(
            "{kind} id must be 1-64 characters of [A-Za-z0-9_-], got {id:?}"
        )))
    }
}

/// Key builder for one project.
#[derive(Debug, Clone)]
pub(crate) struct ProjectKeys {
    base: String,
}

impl ProjectKeys {
    pub(crate) fn new(root: &str, project: &str) -> Result<Self> {
        validate_id("project", project)?;
        let root = root.trim_matches('/');
        let base = if root.is_empty() {
            format!("projects/{project}")
        } else {
            format!("{root}/projects/{project}")
        };
        Ok(Self { base })
    }

    /// The project's prefix (`<root>/projects/<project>`): also its directory under a local
    /// store's root.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn key(&self, rest: &str) -> Path {
        Path::from(format!("{}/{rest}", self.base))
    }

    pub(crate) fn packs_prefix(&self) -> Path {
        self.key("packs")
    }

    /// Where the packs of one writer (`PackId::owner`) are.
    pub(crate) fn owner_packs_prefix(&self, owner: u64) -> Path {
        self.key(&format!("packs/{owner:016x}"))
    }

    pub(crate) fn pack(&self, id: PackId) -> Path {
        self.key(&format!("packs/{:016x}/{:016x}.pack", id.owner, id.seq))
    }

    /// Inverse of [`Self::pack`]; `None` for foreign objects (e.g. a multipart staging file).
    pub(crate) fn parse_pack(&self, path: &Path) -> Option<PackId> {
        let rest = path.as_ref().strip_prefix(&self.base)?;
        let rest = rest.strip_prefix("/packs/")?;
        let (owner, file) = rest.split_once('/')?;
        let seq = file.strip_suffix(".pack")?;
        if owner.len() != 16 || seq.len() != 16 {
            return None;
        }
        Some(PackId { owner: u64::from_str_radix(owner, 16).ok()?, seq: u64::from_str_radix(seq, 16).ok()? })
    }

    pub(crate) fn manifests_prefix(&self) -> Path {
        self.key("manifests")
    }

    pub(crate) fn manifest(&self, backup_id: &str) -> Path {
        self.key(&format!("manifests/{backup_id}.manifest"))
    }

    pub(crate) fn parse_manifest(&self, path: &Path) -> Option<String> {
        let rest = path.as_ref().strip_prefix(&self.base)?;
        let id = rest.strip_prefix("/manifests/")?.strip_suffix(".manifest")?;
        validate_id("backup", id).ok()?;
        Some(id.to_string())
    }

    pub(crate) fn trash_prefix(&self) -> Path {
        self.key("trash")
    }

    pub(crate) fn trash_manifest(&self, backup_id: &str) -> Path {
        self.key(&format!("trash/{backup_id}/manifest"))
    }

    pub(crate) fn trash_record(&self, backup_id: &str) -> Path {
        self.key(&format!("trash/{backup_id}/deleted"))
    }

    /// `(backup_id, is_record)` of a trash key.
    pub(crate) fn parse_trash(&self, path: &Path) -> Option<(String, bool)> {
        let rest = path.as_ref().strip_prefix(&self.base)?;
        let (id, what) = rest.strip_prefix("/trash/")?.split_once('/')?;
        validate_id("backup", id).ok()?;
        match what {
            "manifest" => Some((id.to_string(), false)),
            "deleted" => Some((id.to_string(), true)),
            _ => None,
        }
    }

    pub(crate) fn pending_prefix(&self) -> Path {
        self.key("pending")
    }

    pub(crate) fn pending_backup(&self, backup_id: &str) -> Path {
        self.key(&format!("pending/backup/{backup_id}.json"))
    }

    pub(crate) fn pending_read(&self, nonce: u64) -> Path {
        self.key(&format!("pending/read/{nonce:016x}.json"))
    }

    pub(crate) fn retired_prefix(&self) -> Path {
        self.key("retired")
    }

    pub(crate) fn retired(&self, id: PackId) -> Path {
        self.key(&format!("retired/{:016x}-{:016x}", id.owner, id.seq))
    }

    pub(crate) fn parse_retired(&self, path: &Path) -> Option<PackId> {
        let rest = path.as_ref().strip_prefix(&self.base)?;
        let (owner, seq) = rest.strip_prefix("/retired/")?.split_once('-')?;
        if owner.len() != 16 || seq.len() != 16 {
            return None;
        }
        Some(PackId { owner: u64::from_str_radix(owner, 16).ok()?, seq: u64::from_str_radix(seq, 16).ok()? })
    }
}

/// A fresh 64-bit value that is unique per call in practice: it tags the packs of one backup
/// attempt (so a re-run never overwrites a crashed attempt's packs) and names read leases.
pub(crate) fn nonce(context: &str) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(b"vbs-nonce");
    h.update(context.as_bytes());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    h.update(&nanos.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(format!("{:?}", std::thread::current().id()).as_bytes());
    let bytes = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(validate_id("p", "abc_DEF-123").is_ok());
        for bad in ["", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(validate_id("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_round_trip() -> Result<()> {
        let k = ProjectKeys::new("vbs", "proj")?;
        let id = PackId { owner: 0xdead_beef, seq: 7 };
        assert_eq!(k.parse_pack(&k.pack(id)), Some(id));
        assert_eq!(k.parse_retired(&k.retired(id)), Some(id));
        assert_eq!(k.parse_manifest(&k.manifest("b-1")).as_deref(), Some("b-1"));
        assert_eq!(k.parse_trash(&k.trash_record("b-1")), Some(("b-1".to_string(), true)));
        let other = ProjectKeys::new("vbs", "proj2")?;
        assert_eq!(other.parse_pack(&k.pack(id)), None);
        Ok(())
    }
}

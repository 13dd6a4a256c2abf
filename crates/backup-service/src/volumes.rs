//! Volume sources: where a backup reads from and a restore writes to.
//!
//! The `file` driver lays volumes out under a root directory:
//!
//! ```text
//! <root>/<project_id>/<volume_id>/disk                      raw image, or a symlink to a block device
//! <root>/<project_id>/<volume_id>/snapshots/<snapshot_id>   the same, frozen
//! <root>/<project_id>/<volume_id>/name                      optional: the volume's display name
//! <root>/<project_id>/<volume_id>/attached                  optional: present while the volume is in use
//! ```
//!
//! A path is only ever built from a parsed [`ProjectId`] (1–64 of `[A-Za-z0-9_-]`) and
//! [`ResourceId`]s in their canonical UUID spelling, so no request can name `..` or a separator;
//! and the volume and snapshot directories must be real directories, not symlinks, so a
//! project's tree cannot lead into another's. `disk` and snapshots are regular files or symlinks
//! to block devices, as the design allows, and nothing else.
//!
//! All functions here do blocking file-system work: call them off the async executor.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Seek, SeekFrom},
    os::unix::fs::FileTypeExt,
    path::{Path, PathBuf},
    process::Command,
};

use api_types::domain::{ProjectId, ResourceId};

/// A volume as the driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: ResourceId,
    /// The readable (and, for restores, writable) data: `…/disk`.
    pub disk: PathBuf,
    /// Length in bytes.
    pub size: u64,
    /// Display name (`name` file), else the id.
    pub name: String,
    /// In use (`attached` file present): a backup needs `force`.
    pub attached: bool,
    /// `disk` is a block device rather than an image file.
    pub block_device: bool,
    /// When the volume's directory was made (its modification time where the file system
    /// keeps no creation time).
    pub created: Option<std::time::SystemTime>,
}

/// What a backup reads.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub size: u64,
    /// Read from the live volume, not a frozen copy: only crash-consistent.
    pub crash_consistent: bool,
    /// A snapshot the driver took for this backup; removed by [`Source::release`].
    temporary: bool,
}

impl Source {
    /// Removes a snapshot the driver took itself.
    pub fn release(self) {
        if self.temporary
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove a temporary snapshot");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {0} does not exist")]
    VolumeNotFound(ResourceId),
    #[error("snapshot {snapshot} of volume {volume} does not exist")]
    SnapshotNotFound { volume: ResourceId, snapshot: ResourceId },
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io { path: path.to_owned(), source }
}

/// The `file` volume driver.
#[derive(Debug, Clone)]
pub struct FileVolumes {
    root: PathBuf,
}

impl FileVolumes {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn volume_dir(&self, project: &ProjectId, volume: ResourceId) -> PathBuf {
        self.root.join(project.as_str()).join(volume.to_string())
    }

    /// The volume, or `VolumeNotFound` when the project has no such volume.
    pub fn volume(&self, project: &ProjectId, id: ResourceId) -> Result<Volume, VolumeError> {
        let dir = self.volume_dir(project, id);
        if !is_real_dir(&dir) {
            return Err(VolumeError::VolumeNotFound(id));
        }
        let disk = dir.join("disk");
        let (size, block_device) = match data_file(&disk)? {
            Some(found) => found,
            None => return Err(VolumeError::VolumeNotFound(id)),
        };
        let name = fs::read_to_string(dir.join("name"))
            .ok()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .unwrap_or_else(|| id.to_string());
        let attached = fs::symlink_metadata(dir.join("attached")).is_ok();
        let created = fs::metadata(&dir).ok().and_then(|m| m.created().or_else(|_| m.modified()).ok());
        Ok(Volume { id, disk, size, name, attached, block_device, created })
    }

    /// Every volume of the project (directories that are not volumes are passed over).
    pub fn volumes(&self, project: &ProjectId) -> Result<Vec<Volume>, VolumeError> {
        let dir = self.root.join(project.as_str());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut volumes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let Some(id) = entry.file_name().to_str().and_then(|n| ResourceId::parse("volume_id", n).ok())
            else {
                continue;
            };
            match self.volume(project, id) {
                Ok(v) => volumes.push(v),
                Err(VolumeError::VolumeNotFound(_) | VolumeError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        volumes.sort_by_key(|v| (v.created, v.id));
        Ok(volumes)
    }

    /// A snapshot of the volume, to back up.
    pub fn snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<Source, VolumeError> {
        let dir = self.volume_dir(project, volume).join("snapshots");
        let not_found = || VolumeError::SnapshotNotFound { volume, snapshot };
        if !is_real_dir(&dir) {
            return Err(not_found());
        }
        let path = dir.join(snapshot.to_string());
        let (size, _) = data_file(&path)?.ok_or_else(not_found)?;
        Ok(Source { path, size, crash_consistent: false, temporary: false })
    }

    /// Freezes the volume for a backup that named no snapshot (policy-triggered and
    /// `cloudbackups` without `snapshot_id`): a reflink clone where the file system supports
    /// it (btrfs, XFS), otherwise the live disk, recorded as only crash-consistent.
    pub fn take_snapshot(&self, volume: &Volume, backup: ResourceId) -> Result<Source, VolumeError> {
        if !volume.block_device
            && let Some(dir) = volume.disk.parent()
        {
            let snapshots = dir.join("snapshots");
            if !snapshots.exists() {
                fs::create_dir(&snapshots).map_err(io_err(&snapshots))?;
            }
            let path = snapshots.join(format!(".vbs-{backup}"));
            let cloned = Command::new("cp")
                .arg("--reflink=always")
                .arg("--")
                .arg(&volume.disk)
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if cloned {
                let (size, _) = data_file(&path)?.ok_or(VolumeError::VolumeNotFound(volume.id))?;
                return Ok(Source { path, size, crash_consistent: false, temporary: true });
            }
            let _ = fs::remove_file(&path);
        }
        Ok(Source { path: volume.disk.clone(), size: volume.size, crash_consistent: true, temporary: false })
    }

    /// Makes `volume` ready to receive a restore. An image file is emptied and re-extended
    /// to its size (all zeros, sparse), so the restore only writes non-zero blocks; a block
    /// device cannot be emptied that way, and the restore writes its zero blocks too.
    /// Returns whether zeros must be written.
    pub fn prepare_restore_target(&self, volume: &Volume) -> Result<bool, VolumeError> {
        if volume.block_device {
            return Ok(true);
        }
        let f = OpenOptions::new().write(true).open(&volume.disk).map_err(io_err(&volume.disk))?;
        f.set_len(0).map_err(io_err(&volume.disk))?;
        f.set_len(volume.size).map_err(io_err(&volume.disk))?;
        Ok(false)
    }

    /// Removes a volume this service created (a restore's new volume whose restore could not
    /// be recorded).
    pub fn remove_volume(&self, project: &ProjectId, id: ResourceId) -> Result<(), VolumeError> {
        let dir = self.volume_dir(project, id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// Creates a volume of `size` bytes (sparse zeros, or a copy of `from`). For operators
    /// and demos (`vbsctl volume create`) and tests; a real deployment's volumes come from
    /// its block storage.
    pub fn create_volume(
        &self,
        project: &ProjectId,
        id: ResourceId,
        size: u64,
        name: Option<&str>,
        from: Option<&Path>,
    ) -> Result<Volume, VolumeError> {
        let dir = self.volume_dir(project, id);
        fs::create_dir_all(dir.join("snapshots")).map_err(io_err(&dir))?;
        let disk = dir.join("disk");
        match from {
            Some(src) => {
                copy_sparse(src, &disk)?;
                let f = OpenOptions::new().write(true).open(&disk).map_err(io_err(&disk))?;
                if size > f.metadata().map_err(io_err(&disk))?.len() {
                    f.set_len(size).map_err(io_err(&disk))?;
                }
            }
            None => {
                let f = File::create(&disk).map_err(io_err(&disk))?;
                f.set_len(size).map_err(io_err(&disk))?;
            }
        }
        if let Some(name) = name {
            fs::write(dir.join("name"), name).map_err(io_err(&dir))?;
        }
        self.volume(project, id)
    }

    /// Copies the volume's disk to `snapshots/<snapshot>` (a reflink where possible).
    pub fn create_snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<Source, VolumeError> {
        let v = self.volume(project, volume)?;
        let dir = self.volume_dir(project, volume).join("snapshots");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        copy_sparse(&v.disk, &dir.join(snapshot.to_string()))?;
        self.snapshot(project, volume, snapshot)
    }
}

fn copy_sparse(from: &Path, to: &Path) -> Result<(), VolumeError> {
    let ok = Command::new("cp")
        .args(["--reflink=auto", "--sparse=always", "--"])
        .arg(from)
        .arg(to)
        .status()
        .map_err(io_err(from))?
        .success();
    if !ok {
        return Err(VolumeError::Refused { path: from.to_owned(), reason: "could not copy" });
    }
    Ok(())
}

/// A directory that is not a symlink.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

/// `(size, is_block_device)` of a volume data file: a regular file, or a symlink to a block
/// device. `None` when it does not exist.
fn data_file(path: &Path) -> Result<Option<(u64, bool)>, VolumeError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let block_device = if meta.file_type().is_file() {
        false
    } else if meta.file_type().is_symlink() {
        let target = fs::metadata(path).map_err(io_err(path))?;
        if !target.file_type().is_block_device() {
            return Err(VolumeError::Refused {
                path: path.to_owned(),
                reason: "a symlink that is not to a block device",
            });
        }
        true
    } else if meta.file_type().is_block_device() {
        true
    } else {
        return Err(VolumeError::Refused {
            path: path.to_owned(),
            reason: "neither an image file nor a block device",
        });
    };
    // Seeking to the end gives a block device's size too (its metadata says 0).
    let mut f = File::open(path).map_err(io_err(path))?;
    let size = f.seek(SeekFrom::End(0)).map_err(io_err(path))?;
    Ok(Some((size, block_device)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> ResourceId {
        uuid::Uuid::from_u128(n).into()
    }

    #[test]
    fn volumes_snapshots_and_isolation() {
        let dir = tempfile::tempdir().unwrap();
        let drv = FileVolumes::new(dir.path());
        let a = ProjectId::parse("project-a").unwrap();
        let b = ProjectId::parse("project-b").unwrap();
        let v = drv.create_volume(&a, id(1), 3 * 1024 * 1024 + 5, Some("data"), None).unwrap();
        assert_eq!(
            (v.size, v.name.as_str(), v.attached, v.block_device),
            (3 * 1024 * 1024 + 5, "data", false, false)
        );
        assert_eq!(drv.volumes(&a).unwrap(), vec![v.clone()]);
        assert!(drv.volumes(&b).unwrap().is_empty(), "B lists none of A's volumes");
        assert!(
            matches!(drv.volume(&b, id(1)), Err(VolumeError::VolumeNotFound(_))),
            "B cannot see A's volume"
        );
        assert!(matches!(drv.volume(&a, id(2)), Err(VolumeError::VolumeNotFound(_))));

        let s = drv.create_snapshot(&a, id(1), id(9)).unwrap();
        assert_eq!(s.size, v.size);
        assert!(!s.crash_consistent);
        assert!(matches!(drv.snapshot(&b, id(1), id(9)), Err(VolumeError::SnapshotNotFound { .. })));
        assert!(matches!(drv.snapshot(&a, id(1), id(8)), Err(VolumeError::SnapshotNotFound { .. })));

        fs::write(dir.path().join("project-a").join(id(1).to_string()).join("attached"), "").unwrap();
        assert!(drv.volume(&a, id(1)).unwrap().attached);
    }

    #[test]
    fn symlinked_directories_and_odd_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let drv = FileVolumes::new(dir.path());
        let a = ProjectId::parse("a").unwrap();
        let b = ProjectId::parse("b").unwrap();
        drv.create_volume(&a, id(1), 4096, None, None).unwrap();
        // B's tree links to A's volume: refused, the link is not a real directory.
        fs::create_dir_all(dir.path().join("b")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("a").join(id(1).to_string()),
            dir.path().join("b").join(id(1).to_string()),
        )
        .unwrap();
        assert!(matches!(drv.volume(&b, id(1)), Err(VolumeError::VolumeNotFound(_))));
        // A disk that is a symlink to a regular file elsewhere is refused.
        let vdir = dir.path().join("a").join(id(2).to_string());
        fs::create_dir_all(&vdir).unwrap();
        fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), vdir.join("disk")).unwrap();
        assert!(matches!(drv.volume(&a, id(2)), Err(VolumeError::Refused { .. })));
    }

    #[test]
    fn live_snapshot_and_restore_preparation() {
        let dir = tempfile::tempdir().unwrap();
        let drv = FileVolumes::new(dir.path());
        let a = ProjectId::parse("a").unwrap();
        let src = dir.path().join("img");
        fs::write(&src, vec![7u8; 10_000]).unwrap();
        let v = drv.create_volume(&a, id(1), 0, None, Some(&src)).unwrap();
        assert_eq!(v.size, 10_000);
        let s = drv.take_snapshot(&v, id(5)).unwrap();
        assert_eq!(s.size, 10_000);
        // ext4 and tmpfs cannot reflink: the live disk, flagged; btrfs/XFS: a temporary clone.
        assert!(s.crash_consistent || s.path.ends_with(format!(".vbs-{}", id(5))));
        let temp = s.path.clone();
        let was_temporary = s.temporary;
        s.release();
        assert_eq!(temp.exists(), !was_temporary);

        assert!(!drv.prepare_restore_target(&v).unwrap());
        let data = fs::read(&v.disk).unwrap();
        assert_eq!(data.len(), 10_000);
        assert!(data.iter().all(|b| *b == 0));
    }
}

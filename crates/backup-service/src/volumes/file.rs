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
//! A policy-triggered backup takes its own snapshot: a reflink clone where the file system
//! supports it, otherwise it reads the live disk and records that it is only crash-consistent.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Seek, SeekFrom},
    os::unix::fs::FileTypeExt,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use api_types::domain::{ProjectId, ResourceId};

use super::{Location, Source, Target, Volume, VolumeDriver, VolumeError, collect_volumes};

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
}

/// The disk of a volume of this driver, and whether it is a block device.
fn disk(volume: &Volume) -> Result<(&Path, bool), VolumeError> {
    match &volume.location {
        Location::File { disk, block_device } => Ok((disk, *block_device)),
        Location::Rbd => Err(VolumeError::VolumeNotFound(volume.id)),
    }
}

/// Opens a data file for a backup to read.
fn source(path: &Path, size: u64, crash_consistent: bool) -> Result<Source, VolumeError> {
    let f = File::open(path).map_err(io_err(path))?;
    Ok(Source::new(Arc::new(f), size, crash_consistent))
}

impl VolumeDriver for FileVolumes {
    fn volume(&self, project: &ProjectId, id: ResourceId) -> Result<Volume, VolumeError> {
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
        Ok(Volume { id, size, name, attached, created, location: Location::File { disk, block_device } })
    }

    fn volumes(&self, project: &ProjectId) -> Result<Vec<Volume>, VolumeError> {
        let dir = self.root.join(project.as_str());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| ResourceId::parse("volume_id", n).ok())
            {
                ids.push(id);
            }
        }
        collect_volumes(ids.into_iter(), |id| self.volume(project, id))
    }

    fn snapshot(
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
        source(&path, size, false)
    }

    /// A reflink clone where the file system supports it (btrfs, XFS), removed when the backup
    /// is over; otherwise the live disk, recorded as only crash-consistent.
    fn take_snapshot(
        &self,
        _project: &ProjectId,
        volume: &Volume,
        backup: ResourceId,
    ) -> Result<Source, VolumeError> {
        let (disk, block_device) = disk(volume)?;
        if !block_device && let Some(dir) = disk.parent() {
            let snapshots = dir.join("snapshots");
            if !snapshots.exists() {
                fs::create_dir(&snapshots).map_err(io_err(&snapshots))?;
            }
            let path = snapshots.join(format!(".vbs-{backup}"));
            let cloned = Command::new("cp")
                .arg("--reflink=always")
                .arg("--")
                .arg(disk)
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if cloned {
                let (size, _) = data_file(&path)?.ok_or(VolumeError::VolumeNotFound(volume.id))?;
                let opened = source(&path, size, false);
                return Ok(opened?.on_release(move |_| remove_temporary(&path)));
            }
            let _ = fs::remove_file(&path);
        }
        source(disk, volume.size, true)
    }

    /// An image file is emptied and re-extended to its size (all zeros, sparse), so the
    /// restore only writes non-zero blocks; a block device cannot be emptied that way, and the
    /// restore writes its zero blocks too.
    fn restore_target(&self, _project: &ProjectId, volume: &Volume) -> Result<Target, VolumeError> {
        let (disk, block_device) = disk(volume)?;
        let f = OpenOptions::new().write(true).open(disk).map_err(io_err(disk))?;
        if !block_device {
            f.set_len(0).map_err(io_err(disk))?;
            f.set_len(volume.size).map_err(io_err(disk))?;
        }
        Ok(Target { writer: Arc::new(f), write_zeros: block_device })
    }

    fn create_volume(
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
    fn create_snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<(), VolumeError> {
        let v = self.volume(project, volume)?;
        let dir = self.volume_dir(project, volume).join("snapshots");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        copy_sparse(disk(&v)?.0, &dir.join(snapshot.to_string()))
    }

    fn remove_volume(&self, project: &ProjectId, id: ResourceId) -> Result<(), VolumeError> {
        let dir = self.volume_dir(project, id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }
}

fn remove_temporary(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a temporary snapshot");
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
        assert_eq!((v.size, v.name.as_str(), v.attached), (3 * 1024 * 1024 + 5, "data", false));
        assert!(matches!(v.location, Location::File { block_device: false, .. }));
        assert_eq!(drv.volumes(&a).unwrap(), vec![v.clone()]);
        assert!(drv.volumes(&b).unwrap().is_empty(), "B lists none of A's volumes");
        assert!(
            matches!(drv.volume(&b, id(1)), Err(VolumeError::VolumeNotFound(_))),
            "B cannot see A's volume"
        );
        assert!(matches!(drv.volume(&a, id(2)), Err(VolumeError::VolumeNotFound(_))));

        drv.create_snapshot(&a, id(1), id(9)).unwrap();
        let s = drv.snapshot(&a, id(1), id(9)).unwrap();
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
        let s = drv.take_snapshot(&a, &v, id(5)).unwrap();
        assert_eq!(s.size, 10_000);
        // ext4 and tmpfs cannot reflink: the live disk, flagged; btrfs/XFS: a temporary clone,
        // removed on release.
        let temp =
            dir.path().join("a").join(id(1).to_string()).join("snapshots").join(format!(".vbs-{}", id(5)));
        assert_eq!(s.crash_consistent, !temp.exists());
        s.release(true);
        assert!(!temp.exists());

        let target = drv.restore_target(&a, &v).unwrap();
        assert!(!target.write_zeros);
        let data = fs::read(disk(&v).unwrap().0).unwrap();
        assert_eq!(data.len(), 10_000);
        assert!(data.iter().all(|b| *b == 0));
    }
}

//! Volume sources: where a backup reads from and a restore writes to.
//!
//! A [`VolumeDriver`] maps `(project, volume)` and `(project, snapshot)` to readable block data,
//! takes snapshots, prepares restore targets and creates volumes. A project never reaches
//! another project's volumes: each driver decides ownership from what it keeps beside the data
//! (the file driver's directory per project, the image metadata of an RBD image), and a volume
//! of another project is simply "not found". `VBS_VOLUME_DRIVER` picks one:
//!
//! * [`file`] (default): raw images or block devices under `VBS_VOLUMES_ROOT`;
//! * [`rbd`]: Ceph RBD images named as Cinder names them, with changed-block incrementals.
//!
//! All driver functions do blocking I/O: call them off the async executor.

pub mod file;
pub mod rbd;

use std::{fmt, path::Path, path::PathBuf, sync::Arc};

use api_types::domain::{ProjectId, ResourceId};
use backup_engine::{VolumeReader, VolumeWriter};
use service_kit::config::var_or;

pub use self::file::FileVolumes;
pub use self::rbd::{RbdSettings, RbdVolumes};

/// A volume as a driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: ResourceId,
    /// Size in bytes.
    pub size: u64,
    /// Display name, else the id.
    pub name: String,
    /// In use: a backup needs `force`.
    pub attached: bool,
    /// When the volume was made, where the backend knows.
    pub created: Option<std::time::SystemTime>,
    /// Where the data is, in the driver's terms.
    pub(crate) location: Location,
}

/// Where a volume's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// `…/disk` of the file driver: an image file, or a block device.
    File { disk: PathBuf, block_device: bool },
    /// An RBD image of the driver's pool (`volume-<id>`).
    Rbd,
}

/// What a backup reads.
pub struct Source {
    pub reader: Arc<dyn VolumeReader>,
    /// Size in bytes.
    pub size: u64,
    /// Read from the live volume, not a frozen copy: only crash-consistent.
    pub crash_consistent: bool,
    /// Run by [`Source::release`] with whether the backup was committed.
    release: Option<Box<dyn FnOnce(bool) + Send + Sync>>,
}

impl Source {
    pub(crate) fn new(reader: Arc<dyn VolumeReader>, size: u64, crash_consistent: bool) -> Self {
        Self { reader, size, crash_consistent, release: None }
    }

    /// Runs `f` when the backup is over (see [`Source::release`]).
    pub(crate) fn on_release(mut self, f: impl FnOnce(bool) + Send + Sync + 'static) -> Self {
        self.release = Some(Box::new(f));
        self
    }

    /// The backup is over: a snapshot the driver took for it is removed, or kept as the base
    /// of the next incremental when the backup was committed and the driver can use it.
    pub fn release(self, committed: bool) {
        if let Some(f) = self.release {
            f(committed);
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("size", &self.size)
            .field("crash_consistent", &self.crash_consistent)
            .finish_non_exhaustive()
    }
}

/// Where a restore writes.
pub struct Target {
    pub writer: Arc<dyn VolumeWriter>,
    /// The target may hold old data where the backup has zeros: they must be written.
    pub write_zeros: bool,
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
        source: std::io::Error,
    },
    /// The volume backend (the Ceph cluster) cannot be reached or failed.
    #[error("the volume backend failed: {0}")]
    Backend(String),
}

/// What every volume driver does.
pub trait VolumeDriver: Send + Sync + fmt::Debug {
    /// The volume, or `VolumeNotFound` when the project has no such volume.
    fn volume(&self, project: &ProjectId, id: ResourceId) -> Result<Volume, VolumeError>;

    /// Every volume of the project, oldest first.
    fn volumes(&self, project: &ProjectId) -> Result<Vec<Volume>, VolumeError>;

    /// A snapshot of the volume, to back up.
    fn snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<Source, VolumeError>;

    /// Freezes the volume for a backup that named no snapshot (policy-triggered, and
    /// `cloudbackups` without `snapshot_id`).
    fn take_snapshot(
        &self,
        project: &ProjectId,
        volume: &Volume,
        backup: ResourceId,
    ) -> Result<Source, VolumeError>;

    /// Makes `volume` ready to receive a restore.
    fn restore_target(&self, project: &ProjectId, volume: &Volume) -> Result<Target, VolumeError>;

    /// Creates a volume of `size` bytes, all zeros or a copy of the image file `from` (for
    /// operators and demos: `vbsctl volume create`; restores into a new volume).
    fn create_volume(
        &self,
        project: &ProjectId,
        id: ResourceId,
        size: u64,
        name: Option<&str>,
        from: Option<&Path>,
    ) -> Result<Volume, VolumeError>;

    /// Snapshots the volume as it is now, under `snapshot` (for operators: `vbsctl volume
    /// snapshot`; a real deployment's snapshots come from its block storage).
    fn create_snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<(), VolumeError>;

    /// Removes a volume this service created (a restore's new volume whose restore could not
    /// be recorded).
    fn remove_volume(&self, project: &ProjectId, id: ResourceId) -> Result<(), VolumeError>;
}

/// The volumes among `ids` that `volume` finds (an id that is not a usable volume of the
/// project is passed over), oldest first.
pub(crate) fn collect_volumes(
    ids: impl Iterator<Item = ResourceId>,
    volume: impl Fn(ResourceId) -> Result<Volume, VolumeError>,
) -> Result<Vec<Volume>, VolumeError> {
    let mut volumes = Vec::new();
    for id in ids {
        match volume(id) {
            Ok(v) => volumes.push(v),
            Err(VolumeError::VolumeNotFound(_) | VolumeError::Refused { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    volumes.sort_by_key(|v| (v.created, v.id));
    Ok(volumes)
}

/// The driver `VBS_VOLUME_DRIVER` selects, shared by the API and the workers.
pub type Volumes = Arc<dyn VolumeDriver>;

/// Which driver, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverSettings {
    /// `VBS_VOLUME_DRIVER=file` (default), rooted at `VBS_VOLUMES_ROOT`.
    File { root: PathBuf },
    /// `VBS_VOLUME_DRIVER=rbd`.
    Rbd(RbdSettings),
}

impl DriverSettings {
    /// Reads `VBS_VOLUME_DRIVER` and the chosen driver's variables.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::named(&var_or("VBS_VOLUME_DRIVER", "file"))
    }

    /// The settings of the driver `name` (`file` or `rbd`), from its variables.
    pub fn named(name: &str) -> anyhow::Result<Self> {
        match name {
            "file" => Ok(Self::File { root: var_or("VBS_VOLUMES_ROOT", "data/volumes").into() }),
            "rbd" => Ok(Self::Rbd(RbdSettings::from_env()?)),
            other => anyhow::bail!("VBS_VOLUME_DRIVER must be `file` or `rbd`, not {other:?}"),
        }
    }

    /// The driver. The RBD driver connects to the cluster on first use (and again after a
    /// failure), so the service starts and answers while Ceph is unreachable.
    pub fn build(&self) -> Volumes {
        match self {
            Self::File { root } => Arc::new(FileVolumes::new(root)),
            Self::Rbd(s) => Arc::new(RbdVolumes::new(s.clone())),
        }
    }
}

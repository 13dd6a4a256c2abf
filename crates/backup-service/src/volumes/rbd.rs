//! The `rbd` volume driver: Ceph RBD images, named as Cinder's RBD driver names them so that
//! existing Cinder volumes work.
//!
//! ```text
//! <pool>/volume-<volume_id>                          the volume
//! <pool>/volume-<volume_id>@snapshot-<snapshot_id>   a Cinder snapshot
//! <pool>/volume-<volume_id>@vbs-<backup_id>          VBS's own snapshot for a backup
//! image metadata vbs.project_id = <project_id>       the owning project
//! image metadata vbs.name = <name>                   optional display name
//! ```
//!
//! **Ownership.** A volume belongs to the project its image metadata `vbs.project_id` names
//! (`vbsctl volume create --driver rbd` sets it; for an existing Cinder volume an operator sets
//! it with `rbd image-meta set`). Any other image — another project's, or one without the
//! metadata — is "not found" for every project.
//!
//! **Snapshots and incrementals.** A backup that names no snapshot takes `vbs-<backup_id>`.
//! When the backup commits, that snapshot stays as the base of the volume's next incremental
//! and the volume's older `vbs-` snapshots are removed; when it fails, it is removed. A backup
//! whose parent's base snapshot still exists (and is older than what it reads) reads only the
//! extents Ceph reports as changed since it (`rbd_diff_iterate2`); otherwise it reads the
//! allocated extents. Blocks no extent touches are never read: they are the parent's, or
//! zeros.
//!
//! **Connection.** The driver connects on first use and again after a failed connection, so
//! the service starts and answers while the cluster is down; every Ceph call is bounded by
//! `VBS_RBD_TIMEOUT_SECS` and a failure is [`VolumeError::Backend`].

use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, mpsc},
    time::Duration,
};

use api_types::domain::{ProjectId, ResourceId};
use backup_engine::{Extents, VolumeReader, VolumeWriter};
use ceph_rbd::{Cluster, ConnectOptions, Image, Pool};
use service_kit::config::{seconds_or, var_opt, var_or};

use super::{Location, Source, Target, Volume, VolumeDriver, VolumeError, collect_volumes};

/// Batches (of ~1 MiB) a backup reads from Ceph at once, and writes a restore has in flight.
const IO_CONCURRENCY: usize = 8;

/// Image metadata naming the owning project.
pub const PROJECT_KEY: &str = "vbs.project_id";
/// Image metadata with the display name.
pub const NAME_KEY: &str = "vbs.name";

/// `VBS_RBD_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbdSettings {
    /// `VBS_RBD_POOL` (default `rbd`, as Cinder's `rbd_pool`).
    pub pool: String,
    /// `VBS_RBD_CONF` (default `/etc/ceph/ceph.conf`).
    pub conf: PathBuf,
    /// `VBS_RBD_USER`: the client id without `client.` (default: Ceph's, `admin`).
    pub user: Option<String>,
    /// `VBS_RBD_KEYRING`: a keyring overriding the configuration's.
    pub keyring: Option<PathBuf>,
    /// `VBS_RBD_TIMEOUT_SECS` (default 30): bounds connecting and every Ceph operation.
    pub timeout: Duration,
}

impl RbdSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            pool: var_or("VBS_RBD_POOL", "rbd"),
            conf: var_or("VBS_RBD_CONF", "/etc/ceph/ceph.conf").into(),
            user: var_opt("VBS_RBD_USER"),
            keyring: var_opt("VBS_RBD_KEYRING").map(PathBuf::from),
            timeout: seconds_or("VBS_RBD_TIMEOUT_SECS", 30)?.max(Duration::from_secs(1)),
        })
    }
}

/// The `rbd` volume driver.
pub struct RbdVolumes {
    settings: RbdSettings,
    pool: Mutex<Option<Pool>>,
}

impl std::fmt::Debug for RbdVolumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RbdVolumes").field("settings", &self.settings).finish_non_exhaustive()
    }
}

fn backend(e: ceph_rbd::Error) -> VolumeError {
    VolumeError::Backend(e.to_string())
}

fn image_name(volume: ResourceId) -> String {
    format!("volume-{volume}")
}

fn vbs_snapshot(backup: &str) -> String {
    format!("vbs-{backup}")
}

impl RbdVolumes {
    pub fn new(settings: RbdSettings) -> Self {
        Self { settings, pool: Mutex::new(None) }
    }

    /// The pool, connecting first if there is no connection yet.
    pub fn pool(&self) -> Result<Pool, VolumeError> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = &*pool {
            return Ok(p.clone());
        }
        let s = &self.settings;
        let opts = ConnectOptions {
            conf: Some(s.conf.clone()),
            user: s.user.clone(),
            keyring: s.keyring.clone(),
            timeout: s.timeout,
        };
        let connected = Cluster::connect(&opts).and_then(|c| c.pool(&s.pool)).map_err(backend)?;
        *pool = Some(connected.clone());
        Ok(connected)
    }

    /// The volume's image opened at its head (writable or not), if the project owns it.
    fn open_owned(&self, project: &ProjectId, id: ResourceId, writable: bool) -> Result<Image, VolumeError> {
        let pool = self.pool()?;
        let name = image_name(id);
        let opened = if writable { pool.open(&name) } else { pool.open_read_only(&name, None) };
        let image = match opened {
            Ok(i) => i,
            Err(e) if e.is_not_found() => return Err(VolumeError::VolumeNotFound(id)),
            Err(e) => return Err(backend(e)),
        };
        match image.metadata_get(PROJECT_KEY).map_err(backend)? {
            Some(owner) if owner == project.as_str() => Ok(image),
            _ => Err(VolumeError::VolumeNotFound(id)),
        }
    }

    fn describe(&self, id: ResourceId, image: &Image) -> Result<Volume, VolumeError> {
        let name = image
            .metadata_get(NAME_KEY)
            .map_err(backend)?
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .unwrap_or_else(|| id.to_string());
        Ok(Volume {
            id,
            size: image.size().map_err(backend)?,
            name,
            attached: false,
            created: image.create_timestamp().ok(),
            location: Location::Rbd,
        })
    }

    /// A source reading `snapshot` of the volume's image (which the caller checked the project
    /// owns); `None` when there is no such snapshot.
    fn open_source(&self, id: ResourceId, snapshot: &str) -> Result<Option<Source>, VolumeError> {
        let image = match self.pool()?.open_read_only(&image_name(id), Some(snapshot)) {
            Ok(i) => i,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let size = image.size().map_err(backend)?;
        let snapshots = image.snapshots().map_err(backend)?;
        let reader = SnapshotReader { image: Arc::new(image), snapshot: snapshot.into(), snapshots };
        Ok(Some(Source::new(Arc::new(reader), size, false)))
    }
}

impl VolumeDriver for RbdVolumes {
    fn volume(&self, project: &ProjectId, id: ResourceId) -> Result<Volume, VolumeError> {
        let image = self.open_owned(project, id, false)?;
        self.describe(id, &image)
    }

    /// Reads each `volume-<id>` image's metadata: one open per image of the pool.
    fn volumes(&self, project: &ProjectId) -> Result<Vec<Volume>, VolumeError> {
        let names = self.pool()?.list().map_err(backend)?;
        let ids =
            names.iter().filter_map(|n| ResourceId::parse("volume_id", n.strip_prefix("volume-")?).ok());
        collect_volumes(ids, |id| self.volume(project, id))
    }

    fn snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<Source, VolumeError> {
        self.open_owned(project, volume, false)?;
        self.open_source(volume, &format!("snapshot-{snapshot}"))?
            .ok_or(VolumeError::SnapshotNotFound { volume, snapshot })
    }

    fn take_snapshot(
        &self,
        project: &ProjectId,
        volume: &Volume,
        backup: ResourceId,
    ) -> Result<Source, VolumeError> {
        let image = self.open_owned(project, volume.id, true)?;
        let name = vbs_snapshot(&backup.to_string());
        // A retry after a crash finds the earlier attempt's snapshot: capture anew.
        match image.snap_remove(&name) {
            Err(e) if !e.is_not_found() => return Err(backend(e)),
            _ => {}
        }
        image.snap_create(&name).map_err(backend)?;
        let source = match self.open_source(volume.id, &name) {
            Ok(Some(s)) => s,
            opened => {
                let _ = image.snap_remove(&name);
                return Err(opened
                    .err()
                    .unwrap_or_else(|| VolumeError::Backend(format!("snapshot {name} vanished"))));
            }
        };
        Ok(source.on_release(move |committed| release_snapshot(&image, &name, committed)))
    }

    /// Every extent is zeroed first (deallocated where Ceph can), so the restore writes only
    /// the backup's non-zero blocks.
    fn restore_target(&self, project: &ProjectId, volume: &Volume) -> Result<Target, VolumeError> {
        let image = self.open_owned(project, volume.id, true)?;
        let size = image.size().map_err(backend)?;
        image
            .write_zeroes(0, size)
            .map_err(|e| VolumeError::Backend(format!("zeroing {}: {e}", image.name())))?;
        Ok(Target { writer: Arc::new(ImageWriter(image)), write_zeros: false })
    }

    fn create_volume(
        &self,
        project: &ProjectId,
        id: ResourceId,
        size: u64,
        name: Option<&str>,
        from: Option<&Path>,
    ) -> Result<Volume, VolumeError> {
        let pool = self.pool()?;
        let image_name = image_name(id);
        pool.create(&image_name, size).map_err(backend)?;
        let filled = pool.open(&image_name).map_err(backend).and_then(|image| {
            if let Some(from) = from {
                copy_into(from, &image)?;
            }
            if let Some(name) = name {
                image.metadata_set(NAME_KEY, name).map_err(backend)?;
            }
            // Last: the volume is the project's only once it is complete.
            image.metadata_set(PROJECT_KEY, project.as_str()).map_err(backend)?;
            self.describe(id, &image)
        });
        if filled.is_err() {
            let _ = pool.remove(&image_name);
        }
        filled
    }

    fn create_snapshot(
        &self,
        project: &ProjectId,
        volume: ResourceId,
        snapshot: ResourceId,
    ) -> Result<(), VolumeError> {
        let image = self.open_owned(project, volume, true)?;
        image.snap_create(&format!("snapshot-{snapshot}")).map_err(backend)
    }

    fn remove_volume(&self, project: &ProjectId, id: ResourceId) -> Result<(), VolumeError> {
        let image = match self.open_owned(project, id, true) {
            Ok(i) => i,
            Err(VolumeError::VolumeNotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        for snap in image.snapshots().map_err(backend)? {
            image.snap_remove(&snap).map_err(backend)?;
        }
        drop(image);
        match self.pool()?.remove(&image_name(id)) {
            Err(e) if !e.is_not_found() => Err(backend(e)),
            _ => Ok(()),
        }
    }
}

/// After a backup from `name`: kept when the backup committed, and the older `vbs-` snapshots
/// removed (not newer ones: the next backup of the volume may have taken its own already);
/// removed when it did not commit. Failures are logged; the next committed backup prunes again.
fn release_snapshot(image: &Image, name: &str, committed: bool) {
    let stale: Vec<String> = if committed {
        match image.snapshots() {
            Ok(all) => all.into_iter().take_while(|s| s != name).filter(|s| s.starts_with("vbs-")).collect(),
            Err(e) => {
                tracing::warn!(image = image.name(), error = %e, "could not list snapshots to prune");
                return;
            }
        }
    } else {
        vec![name.to_string()]
    };
    for snap in stale {
        match image.snap_remove(&snap) {
            Err(e) if !e.is_not_found() => {
                tracing::warn!(image = image.name(), snapshot = snap, error = %e, "could not remove a snapshot");
            }
            _ => tracing::debug!(image = image.name(), snapshot = snap, "snapshot removed"),
        }
    }
}

/// Copies an image file into `image`, skipping all-zero chunks (the image is new: zeros).
fn copy_into(from: &Path, image: &Image) -> Result<(), VolumeError> {
    use std::os::unix::fs::FileExt;
    let io_err = |source| VolumeError::Io { path: from.to_owned(), source };
    let file = std::fs::File::open(from).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut buf = vec![0u8; 4 << 20];
    let mut offset = 0u64;
    while offset < len {
        let n = (len - offset).min(buf.len() as u64) as usize;
        FileExt::read_exact_at(&file, &mut buf[..n], offset).map_err(io_err)?;
        if buf[..n].iter().any(|b| *b != 0) {
            image
                .write_all_at(&buf[..n], offset)
                .map_err(|e| VolumeError::Backend(format!("{}: {e}", image.name())))?;
        }
        offset += n as u64;
    }
    image.flush().map_err(|e| VolumeError::Backend(format!("{}: {e}", image.name())))
}

/// Reads a snapshot; knows the extents changed since an older `vbs-` snapshot.
struct SnapshotReader {
    image: Arc<Image>,
    /// The snapshot read.
    snapshot: String,
    /// The image's snapshots when it was opened, oldest first.
    snapshots: Vec<String>,
}

impl SnapshotReader {
    /// The base snapshot of `parent`'s backup, if it exists and is older than the one read.
    fn base_of(&self, parent: &str) -> Option<String> {
        let base = vbs_snapshot(parent);
        let at = |name: &str| self.snapshots.iter().position(|s| s == name);
        match (at(&base), at(&self.snapshot)) {
            (Some(b), Some(s)) if b < s => Some(base),
            _ => None,
        }
    }
}

impl VolumeReader for SnapshotReader {
    fn size(&self) -> io::Result<u64> {
        self.image.size().map_err(io::Error::other)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.image.read_exact_at(buf, offset)
    }

    /// Each read waits for a round trip to an OSD: several in flight keep the OSDs busy.
    fn read_concurrency(&self) -> usize {
        IO_CONCURRENCY
    }

    /// Ceph's diff, listed by a thread of its own into a bounded queue as the backup reads.
    fn extents(&self, parent: Option<&str>) -> io::Result<Option<Extents>> {
        let base = parent.and_then(|p| self.base_of(p));
        let since_parent = base.is_some();
        let (tx, rx) = mpsc::sync_channel::<io::Result<(u64, u64)>>(4096);
        let image = Arc::clone(&self.image);
        std::thread::Builder::new().name("vbs-rbd-diff".into()).spawn(move || {
            let listed = image.diff(base.as_deref(), |offset, len, _exists| {
                // A hole punched since the base reads as zeros: it is read like any change.
                if tx.send(Ok((offset, len))).is_err() {
                    return std::ops::ControlFlow::Break(());
                }
                std::ops::ControlFlow::Continue(())
            });
            if let Err(e) = listed {
                let _ = tx.send(Err(io::Error::other(e)));
            }
        })?;
        Ok(Some(Extents { since_parent, ranges: Box::new(rx.into_iter()) }))
    }
}

/// A restore target.
struct ImageWriter(Image);

impl VolumeWriter for ImageWriter {
    fn size(&self) -> io::Result<u64> {
        self.0.size().map_err(io::Error::other)
    }

    /// As for reads: each write waits for a round trip.
    fn write_concurrency(&self) -> usize {
        IO_CONCURRENCY
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> io::Result<()> {
        self.0.write_zeroes(offset, len)
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}

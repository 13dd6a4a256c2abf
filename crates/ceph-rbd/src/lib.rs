//! # Ceph RBD bindings
//!
//! Safe Rust bindings to the part of Ceph's **librbd** (RADOS block devices) and **librados**
//! (the cluster connection under it) that VBS's RBD volume driver needs: connect to a cluster
//! ([`Cluster`]), open a pool ([`Pool`]), list, create and remove images, and on an [`Image`]:
//! positional reads and writes, zeroing, snapshots, changed-extent listing ([`Image::diff`]),
//! image metadata and the creation time.
//!
//! ## Loaded at run time
//! The libraries (`librados.so.2`, `librbd.so.1`, Debian's `librados2` and `librbd1`
//! packages, which `ceph-common` pulls in) are opened with `dlopen` on the first
//! [`Cluster::connect`] rather than linked, so the workspace builds, and every other driver
//! runs, on machines without Ceph; only a process that uses RBD needs them, and without them
//! it gets an [`Error::Load`] naming the package to install. They are loaded once per process
//! and never unloaded, so the function pointers outlive every handle.
//!
//! ## Thread safety
//! [`Cluster`] and [`Pool`] are cheap to clone (an `Arc` each) and are `Send + Sync`: a
//! connected `rados_t` and an I/O context whose settings nobody changes may be used from many
//! threads at once. [`Image`] is `Send + Sync` too: librbd locks the image context inside every
//! call, so one handle serves concurrent reads and writes. Handles keep what they depend on
//! alive — an image its pool, a pool its cluster — and release it on drop.
//!
//! ## Timeouts
//! [`ConnectOptions::timeout`] bounds connecting and every monitor and OSD operation
//! (`client_mount_timeout`, `rados_mon_op_timeout`, `rados_osd_op_timeout`): when the cluster
//! stops, calls fail with `ETIMEDOUT` instead of hanging.
#![deny(missing_docs)]

mod ffi;
mod image;

use std::ffi::{CStr, CString, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

pub use image::Image;

/// An error of this crate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A library could not be loaded (or lacks a function).
    #[error("cannot load {library} ({reason}); install the `{package}` package (ceph-common)")]
    Load {
        /// The library file, e.g. `librbd.so.1`.
        library: String,
        /// The Debian package that provides it.
        package: &'static str,
        /// What the dynamic loader said.
        reason: String,
    },
    /// A Ceph call failed.
    #[error("{op} {name}: {} (errno {errno})", strerror(*errno))]
    Ceph {
        /// The C function, e.g. `rbd_open`.
        op: &'static str,
        /// What it was called on: image, pool, snapshot or configuration file.
        name: String,
        /// The (positive) errno.
        errno: i32,
    },
    /// A name contains a NUL byte.
    #[error("invalid name {0:?}: contains a NUL byte")]
    InvalidName(String),
}

impl Error {
    /// Whether the image, snapshot or pool does not exist (`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }

    /// The errno of a failed Ceph call (`ETIMEDOUT` when the cluster does not answer).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Ceph { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.strip_suffix(&format!(" (os error {errno})")) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// `Ok(r)` for a non-negative return value, else [`Error::Ceph`].
fn check(op: &'static str, name: &str, r: c_int) -> Result<c_int> {
    if r < 0 { Err(Error::Ceph { op, name: name.to_owned(), errno: -r }) } else { Ok(r) }
}

fn cstring(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::InvalidName(name.to_owned()))
}

fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidName(path.display().to_string()))
}

fn ptr_or_null(s: Option<&CString>) -> *const std::ffi::c_char {
    s.map_or(ptr::null(), |s| s.as_ptr())
}

/// How to connect to a cluster.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The `ceph.conf` to read; `None` searches Ceph's default places (`$CEPH_CONF`,
    /// `/etc/ceph/ceph.conf`, ...).
    pub conf: Option<PathBuf>,
    /// The client id without `client.`, e.g. `admin` or `cinder`; `None` is Ceph's default
    /// (`admin`).
    pub user: Option<String>,
    /// A keyring file overriding the configuration's.
    pub keyring: Option<PathBuf>,
    /// Bounds connecting and each monitor and OSD operation (whole seconds, at least 1).
    pub timeout: Duration,
}

impl ConnectOptions {
    /// Options reading `conf`, as the default user, with a 30 s timeout.
    pub fn new(conf: impl Into<PathBuf>) -> Self {
        ConnectOptions { conf: Some(conf.into()), ..Self::default() }
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { conf: None, user: None, keyring: None, timeout: Duration::from_secs(30) }
    }
}

/// A connection to a Ceph cluster (`rados_t`); clones share it.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<ffi::Rados>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// Loads the libraries (once per process) and connects.
    pub fn connect(opts: &ConnectOptions) -> Result<Cluster> {
        let api = ffi::api()?;
        let user = opts.user.as_deref().map(cstring).transpose()?;
        let conf = opts.conf.as_deref().map(path_cstring).transpose()?;
        let conf_name = opts.conf.as_ref().map_or("(default ceph.conf)".into(), |p| p.display().to_string());
        let mut raw = ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the id is NUL-terminated or null (default).
        let r = unsafe { (api.rados_create)(&mut raw, ptr_or_null(user.as_ref())) };
        check("rados_create", opts.user.as_deref().unwrap_or("(default user)"), r)?;
        // From here on, `rados` shuts the handle down on every error path.
        let rados = ffi::Rados::new(api, raw);
        // SAFETY: `rados.raw` is a created, not yet shared handle; the path is NUL-terminated
        // or null (search the default places).
        let r = unsafe { (api.rados_conf_read_file)(rados.raw, ptr_or_null(conf.as_ref())) };
        check("rados_conf_read_file", &conf_name, r)?;
        let set = |option: &str, value: &CStr| {
            let key = cstring(option)?;
            // SAFETY: the handle is not connected yet and used by this thread only; both
            // strings are NUL-terminated.
            let r = unsafe { (api.rados_conf_set)(rados.raw, key.as_ptr(), value.as_ptr()) };
            check("rados_conf_set", option, r).map(drop)
        };
        if let Some(keyring) = &opts.keyring {
            set("keyring", &path_cstring(keyring)?)?;
        }
        let secs = cstring(&opts.timeout.as_secs().max(1).to_string())?;
        for option in ["client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"] {
            set(option, &secs)?;
        }
        // SAFETY: a configured handle, connected once.
        let r = unsafe { (api.rados_connect)(rados.raw) };
        check("rados_connect", &conf_name, r)?;
        Ok(Cluster { inner: Arc::new(rados) })
    }

    /// Opens the pool `name` (`ENOENT` when there is none).
    pub fn pool(&self, name: &str) -> Result<Pool> {
        let c_name = cstring(name)?;
        let mut raw = ptr::null_mut();
        // SAFETY: a connected cluster handle, a NUL-terminated name, a valid out-pointer.
        let r = unsafe { (self.inner.api.rados_ioctx_create)(self.inner.raw, c_name.as_ptr(), &mut raw) };
        check("rados_ioctx_create", name, r)?;
        let ioctx = ffi::IoCtx { raw, cluster: Arc::clone(&self.inner) };
        Ok(Pool { inner: Arc::new(ioctx), name: name.to_owned() })
    }
}

/// A pool of RBD images (an `rados_ioctx_t`); clones share it, and it keeps its cluster
/// connected.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<ffi::IoCtx>,
    name: String,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Pool {
    fn api(&self) -> &'static ffi::Api {
        self.inner.cluster.api
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of the pool's images (in no particular order).
    pub fn list(&self) -> Result<Vec<String>> {
        let mut capacity = 64;
        loop {
            let mut specs: Vec<ffi::ImageSpec> = (0..capacity)
                .map(|_| ffi::ImageSpec { id: ptr::null_mut(), name: ptr::null_mut() })
                .collect();
            let mut count = capacity;
            // SAFETY: `specs` has room for `count` entries.
            let r = unsafe { (self.api().rbd_list2)(self.inner.raw, specs.as_mut_ptr(), &mut count) };
            if r == -libc::ERANGE {
                capacity = count.max(capacity * 2);
                continue;
            }
            check("rbd_list2", &self.name, r)?;
            let names = specs[..count]
                .iter()
                // SAFETY: on success the first `count` entries hold strdup'ed C strings.
                .map(|spec| unsafe { CStr::from_ptr(spec.name) }.to_string_lossy().into_owned())
                .collect();
            // SAFETY: frees the strings of the `count` filled entries, once.
            unsafe { (self.api().rbd_image_spec_list_cleanup)(specs.as_mut_ptr(), count) };
            return Ok(names);
        }
    }

    /// Creates an image of `size` bytes with the cluster's default features (on Pacific:
    /// layering, exclusive-lock, object-map, fast-diff, deep-flatten) and object size (4 MiB).
    pub fn create(&self, name: &str, size: u64) -> Result<()> {
        let c_name = cstring(name)?;
        let mut opts = ptr::null_mut();
        // SAFETY: a valid out-pointer; the options are destroyed below.
        unsafe { (self.api().rbd_image_options_create)(&mut opts) };
        // SAFETY: an open pool, a NUL-terminated name, options just created (empty: defaults).
        let r = unsafe { (self.api().rbd_create4)(self.inner.raw, c_name.as_ptr(), size, opts) };
        // SAFETY: created above, destroyed once.
        unsafe { (self.api().rbd_image_options_destroy)(opts) };
        check("rbd_create4", name, r).map(drop)
    }

    /// Removes an image; it must have no snapshots and not be open.
    pub fn remove(&self, name: &str) -> Result<()> {
        let c_name = cstring(name)?;
        // SAFETY: an open pool and a NUL-terminated name.
        let r = unsafe { (self.api().rbd_remove)(self.inner.raw, c_name.as_ptr()) };
        check("rbd_remove", name, r).map(drop)
    }

    /// Opens an image's head for reading and writing.
    pub fn open(&self, name: &str) -> Result<Image> {
        Image::open(self, name, None, false)
    }

    /// Opens an image, or its `snapshot`, read-only (without a watch on the header, so the
    /// size or snapshot list it reports may go stale).
    pub fn open_read_only(&self, name: &str, snapshot: Option<&str>) -> Result<Image> {
        Image::open(self, name, snapshot, true)
    }
}

//! The C API of librados and librbd: the function-pointer table, loaded once per process, and
//! the owning handles (`rados_t`, `rados_ioctx_t`, `rbd_image_t`) that release themselves on
//! drop.
//!
//! The signatures are those of Ceph 16.2's `include/rados/librados.h` and
//! `include/rbd/librbd.h` (the `-dev` headers need not be installed). Every wrapper that calls
//! through the table states in a `// SAFETY:` comment why its pointers are valid.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

use libloading::Library;

use crate::Error;

/// `rados_t`.
pub(crate) type RadosT = *mut c_void;
/// `rados_ioctx_t`.
pub(crate) type IoCtxT = *mut c_void;
/// `rbd_image_t`.
pub(crate) type ImageT = *mut c_void;
/// `rbd_image_options_t`.
pub(crate) type ImageOptionsT = *mut c_void;

/// `rbd_image_spec_t`.
#[repr(C)]
pub(crate) struct ImageSpec {
    pub(crate) id: *mut c_char,
    pub(crate) name: *mut c_char,
}

/// `rbd_snap_info_t`.
#[repr(C)]
pub(crate) struct SnapInfo {
    pub(crate) id: u64,
    pub(crate) size: u64,
    pub(crate) name: *const c_char,
}

/// The callback of `rbd_diff_iterate2`: offset, length, exists (1) or hole (0), argument.
pub(crate) type DiffCallback = unsafe extern "C" fn(u64, usize, c_int, *mut c_void) -> c_int;

/// `rbd_write_zeroes` (Ceph 15 and later; looked up optionally).
type WriteZeroes = unsafe extern "C" fn(ImageT, u64, usize, c_int, c_int) -> isize;

/// A shared library, the Debian package that ships it, and its index in `Api::_libraries`.
struct Lib {
    file: &'static str,
    package: &'static str,
    index: usize,
}

const RADOS: Lib = Lib { file: "librados.so.2", package: "librados2", index: 0 };
const RBD: Lib = Lib { file: "librbd.so.1", package: "librbd1", index: 1 };

macro_rules! api {
    ($($lib:ident . $name:ident($($arg:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        /// The functions this crate calls, resolved from the loaded libraries.
        pub(crate) struct Api {
            $(pub(crate) $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
            /// Missing before Ceph 15 (Octopus).
            pub(crate) rbd_write_zeroes: Option<WriteZeroes>,
            /// Never unloaded: the function pointers above point into these.
            _libraries: [Library; 2],
        }

        fn load() -> Result<Api, Error> {
            let libraries = [open(&RADOS)?, open(&RBD)?];
            // SAFETY: every type below is the C signature of that symbol in Ceph's headers.
            unsafe {
                Ok(Api {
                    $($name: symbol(&$lib, &libraries[$lib.index], stringify!($name))?,)*
                    rbd_write_zeroes: symbol(&RBD, &libraries[RBD.index], "rbd_write_zeroes").ok(),
                    _libraries: libraries,
                })
            }
        }
    };
}

api! {
    RADOS.rados_create(*mut RadosT, *const c_char) -> c_int;
    RADOS.rados_conf_read_file(RadosT, *const c_char) -> c_int;
    RADOS.rados_conf_set(RadosT, *const c_char, *const c_char) -> c_int;
    RADOS.rados_connect(RadosT) -> c_int;
    RADOS.rados_shutdown(RadosT);
    RADOS.rados_ioctx_create(RadosT, *const c_char, *mut IoCtxT) -> c_int;
    RADOS.rados_ioctx_destroy(IoCtxT);
    RBD.rbd_list2(IoCtxT, *mut ImageSpec, *mut usize) -> c_int;
    RBD.rbd_image_spec_list_cleanup(*mut ImageSpec, usize);
    RBD.rbd_image_options_create(*mut ImageOptionsT);
    RBD.rbd_image_options_destroy(ImageOptionsT);
    RBD.rbd_create4(IoCtxT, *const c_char, u64, ImageOptionsT) -> c_int;
    RBD.rbd_remove(IoCtxT, *const c_char) -> c_int;
    RBD.rbd_open(IoCtxT, *const c_char, *mut ImageT, *const c_char) -> c_int;
    RBD.rbd_open_read_only(IoCtxT, *const c_char, *mut ImageT, *const c_char) -> c_int;
    RBD.rbd_close(ImageT) -> c_int;
    RBD.rbd_get_size(ImageT, *mut u64) -> c_int;
    RBD.rbd_resize(ImageT, u64) -> c_int;
    RBD.rbd_read2(ImageT, u64, usize, *mut c_char, c_int) -> isize;
    RBD.rbd_write2(ImageT, u64, usize, *const c_char, c_int) -> isize;
    RBD.rbd_flush(ImageT) -> c_int;
    RBD.rbd_diff_iterate2(ImageT, *const c_char, u64, u64, u8, u8, DiffCallback, *mut c_void) -> c_int;
    RBD.rbd_snap_create(ImageT, *const c_char) -> c_int;
    RBD.rbd_snap_remove(ImageT, *const c_char) -> c_int;
    RBD.rbd_snap_list(ImageT, *mut SnapInfo, *mut c_int) -> c_int;
    RBD.rbd_snap_list_end(*mut SnapInfo);
    RBD.rbd_metadata_get(ImageT, *const c_char, *mut c_char, *mut usize) -> c_int;
    RBD.rbd_metadata_set(ImageT, *const c_char, *const c_char) -> c_int;
    RBD.rbd_get_create_timestamp(ImageT, *mut libc::timespec) -> c_int;
}

fn open(lib: &Lib) -> Result<Library, Error> {
    // SAFETY: librados and librbd run no initialisers that could break this process's
    // invariants; loading them is what every Ceph client does.
    unsafe { Library::new(lib.file) }.map_err(|e| Error::Load {
        library: lib.file.to_owned(),
        package: lib.package,
        reason: e.to_string(),
    })
}

/// # Safety
/// `T` must be the type of the symbol `name` in the library.
unsafe fn symbol<T: Copy>(lib: &Lib, library: &Library, name: &str) -> Result<T, Error> {
    // SAFETY: the caller vouches for `T`; the pointer is copied out and stays valid because
    // the library is never unloaded (it lives in `Api`, in a static).
    let symbol = unsafe { library.get::<T>(name) };
    symbol.map(|s| *s).map_err(|e| Error::Load {
        library: lib.file.to_owned(),
        package: lib.package,
        reason: format!("symbol {name}: {e}"),
    })
}

/// The function table, loading both libraries on first use.
pub(crate) fn api() -> Result<&'static Api, Error> {
    static API: OnceLock<Result<Api, Error>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// A `rados_t`, shut down on drop (or at process exit, see [`shutdown_at_exit`]).
pub(crate) struct Rados {
    pub(crate) api: &'static Api,
    pub(crate) raw: RadosT,
}

/// Addresses of the `rados_t`s not shut down yet.
static LIVE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

impl Rados {
    /// Takes ownership of a created `rados_t`.
    pub(crate) fn new(api: &'static Api, raw: RadosT) -> Self {
        static AT_EXIT: Once = Once::new();
        // Registered after the libraries were loaded, so it runs before their destructors.
        // SAFETY: `shutdown_at_exit` is an `extern "C" fn()` that does not unwind.
        AT_EXIT.call_once(|| unsafe {
            libc::atexit(shutdown_at_exit);
        });
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).push(raw as usize);
        Rados { api, raw }
    }
}

impl Drop for Rados {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = live.iter().position(|&r| r == self.raw as usize) else {
            // Already shut down by the exit handler.
            return;
        };
        live.swap_remove(at);
        // SAFETY: `raw` came from rados_create and was not shut down (it was still live); no
        // pool (which holds an `Arc<Rados>`) is left.
        unsafe { (self.api.rados_shutdown)(self.raw) }
    }
}

/// Shuts down the clusters still connected when the process exits. Without it, librados's
/// static destructors run while its threads of a live connection still work, and the exit
/// crashes (a segmentation fault or an uncaught C++ exception) — a process that exits while a
/// handle is still shared, as a server's worker threads keep theirs, would end with a crash
/// report instead of its exit status.
extern "C" fn shutdown_at_exit() {
    let Ok(api) = api() else { return };
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
    for raw in live {
        // SAFETY: a `rados_t` from rados_create, not shut down yet; the process is exiting, so
        // no handle of it will be used again by code that expects it to work.
        unsafe { (api.rados_shutdown)(raw as RadosT) }
    }
}

// SAFETY: a cluster handle may be used from any thread, and concurrently once connected
// (librados synchronises internally); only configuration before connecting is not
// thread-safe, and that happens in `Cluster::connect` before the handle is shared.
unsafe impl Send for Rados {}
// SAFETY: as for `Send`.
unsafe impl Sync for Rados {}

/// A `rados_ioctx_t`, destroyed on drop; keeps its cluster connected.
pub(crate) struct IoCtx {
    pub(crate) raw: IoCtxT,
    pub(crate) cluster: Arc<Rados>,
}

impl Drop for IoCtx {
    fn drop(&mut self) {
        // SAFETY: `raw` came from rados_ioctx_create on a cluster that `self.cluster` keeps alive.
        unsafe { (self.cluster.api.rados_ioctx_destroy)(self.raw) }
    }
}

// SAFETY: an I/O context may be shared by threads as long as none changes its settings
// (snapshot context, namespace, locator key), which this crate never does.
unsafe impl Send for IoCtx {}
// SAFETY: as for `Send`.
unsafe impl Sync for IoCtx {}

/// An `rbd_image_t`, closed on drop; keeps its pool (and cluster) alive.
pub(crate) struct RbdImage {
    pub(crate) raw: ImageT,
    pub(crate) pool: Arc<IoCtx>,
}

impl RbdImage {
    pub(crate) fn api(&self) -> &'static Api {
        self.pool.cluster.api
    }
}

impl Drop for RbdImage {
    fn drop(&mut self) {
        // SAFETY: `raw` came from rbd_open*; drop has the only reference, so no call is running
        // on it. A close error (the final flush failed) cannot be reported from drop; callers
        // that care call `Image::flush` first.
        unsafe { (self.api().rbd_close)(self.raw) };
    }
}

// SAFETY: librbd image handles are thread-safe: every call locks the image context
// internally (QEMU and rbd-nbd issue I/O on one handle from many threads). Only rbd_close
// needs exclusive access, and it runs in `drop`.
unsafe impl Send for RbdImage {}
// SAFETY: as for `Send`.
unsafe impl Sync for RbdImage {}

//! An open RBD image.

use std::ffi::{CStr, c_int, c_void};
use std::io;
use std::ops::ControlFlow;
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::{Pool, Result, check, cstring, ffi, ptr_or_null};

/// `rbd_diff_iterate2` is called over windows of this many bytes (a multiple of any object
/// size), which bounds the extents held at once.
const DIFF_WINDOW: u64 = 1 << 30;
/// The largest zeroing request, so that its return value fits any integer type.
const ZERO_CHUNK: u64 = 1 << 30;

/// An open image (or snapshot of one); closed on drop. Keeps its pool alive.
pub struct Image {
    inner: ffi::RbdImage,
    name: String,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image").field("name", &self.name).finish_non_exhaustive()
    }
}

fn io_error(r: isize) -> io::Error {
    io::Error::from_raw_os_error(i32::try_from(-r).unwrap_or(libc::EIO))
}

impl Image {
    pub(crate) fn open(pool: &Pool, name: &str, snapshot: Option<&str>, read_only: bool) -> Result<Image> {
        let c_name = cstring(name)?;
        let snap = snapshot.map(cstring).transpose()?;
        let (op, open) = match read_only {
            false => ("rbd_open", pool.api().rbd_open),
            true => ("rbd_open_read_only", pool.api().rbd_open_read_only),
        };
        let mut raw = ptr::null_mut();
        // SAFETY: an open pool, NUL-terminated names (the snapshot's or null for the head), a
        // valid out-pointer.
        let r = unsafe { open(pool.inner.raw, c_name.as_ptr(), &mut raw, ptr_or_null(snap.as_ref())) };
        let label = match snapshot {
            Some(snap) => format!("{name}@{snap}"),
            None => name.to_owned(),
        };
        check(op, &label, r)?;
        Ok(Image { inner: ffi::RbdImage { raw, pool: Arc::clone(&pool.inner) }, name: label })
    }

    fn api(&self) -> &'static ffi::Api {
        self.inner.api()
    }

    /// The name, as `image` or `image@snapshot`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes (of the snapshot, if opened at one).
    pub fn size(&self) -> Result<u64> {
        let mut size = 0;
        // SAFETY: an open image and a valid out-pointer.
        let r = unsafe { (self.api().rbd_get_size)(self.inner.raw, &mut size) };
        check("rbd_get_size", &self.name, r).map(|_| size)
    }

    /// Grows or shrinks the image.
    pub fn resize(&self, size: u64) -> Result<()> {
        // SAFETY: an open image.
        let r = unsafe { (self.api().rbd_resize)(self.inner.raw, size) };
        check("rbd_resize", &self.name, r).map(drop)
    }

    /// Fills `buf` from `offset`; [`io::ErrorKind::UnexpectedEof`] if the image ends first.
    pub fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            // SAFETY: an open image; `buf` is valid for writes of `buf.len()` bytes.
            let r = unsafe {
                (self.api().rbd_read2)(self.inner.raw, offset, buf.len(), buf.as_mut_ptr().cast(), 0)
            };
            let eof =
                || io::Error::new(io::ErrorKind::UnexpectedEof, format!("{}: read past the end", self.name));
            match r {
                0 => return Err(eof()),
                // librbd answers EINVAL to a read that starts at or past the end.
                r if r == -(libc::EINVAL as isize) && self.size().is_ok_and(|size| offset >= size) => {
                    return Err(eof());
                }
                r if r < 0 => return Err(io_error(r)),
                r => {
                    let n = (r as usize).min(buf.len());
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset` (within the image's size).
    pub fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            // SAFETY: an open image; `buf` is valid for reads of `buf.len()` bytes.
            let r =
                unsafe { (self.api().rbd_write2)(self.inner.raw, offset, buf.len(), buf.as_ptr().cast(), 0) };
            match r {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                r if r < 0 => return Err(io_error(r)),
                r => {
                    let n = (r as usize).min(buf.len());
                    buf = &buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    /// Makes `len` bytes from `offset` read as zeros, deallocating whole objects and the
    /// object tails it can (`rbd_write_zeroes`). With a librbd older than Ceph 15, which lacks
    /// it, zeros are written: `rbd_discard` would silently skip ranges smaller than its
    /// granularity.
    pub fn write_zeroes(&self, mut offset: u64, len: u64) -> io::Result<()> {
        let end = offset.saturating_add(len);
        let Some(write_zeroes) = self.api().rbd_write_zeroes else {
            let zeros = vec![0; len.min(1 << 20) as usize];
            while offset < end {
                let n = (end - offset).min(zeros.len() as u64) as usize;
                self.write_all_at(&zeros[..n], offset)?;
                offset += n as u64;
            }
            return Ok(());
        };
        while offset < end {
            let n = (end - offset).min(ZERO_CHUNK);
            // SAFETY: an open image; no flags (zeroing may deallocate).
            let r = unsafe { write_zeroes(self.inner.raw, offset, n as usize, 0, 0) };
            if r < 0 {
                return Err(io_error(r));
            }
            offset += n;
        }
        Ok(())
    }

    /// Waits until every write so far is on the cluster.
    pub fn flush(&self) -> io::Result<()> {
        // SAFETY: an open image.
        let r = unsafe { (self.api().rbd_flush)(self.inner.raw) };
        if r < 0 { Err(io_error(r as isize)) } else { Ok(()) }
    }

    /// Calls `f(offset, len, exists)` for the extents of this image (or of the snapshot it
    /// was opened at) that changed since `from_snapshot` or, with `None`, that are allocated;
    /// `exists == false` means the extent became a hole (reads as zeros). Extents come in
    /// ascending offset order and do not overlap (the tests check both); `f` returning `Break`
    /// ends the listing.
    ///
    /// Granularity is librbd's (`rbd_diff_iterate2` with the parent included and
    /// `whole_object = 0`): a rewrite of existing data is reported exactly, but a write into
    /// an object that did not exist or that it extends is reported from the object's start or
    /// its previous end — a superset of the written bytes, never missing any. Extents never
    /// cross an object boundary.
    ///
    /// librbd documents neither the order nor the thread of its callbacks (Pacific's come in
    /// ascending order, on the calling thread). So the extents are gathered a window (1 GiB)
    /// at a time, sorted, and handed to `f` on the calling thread: the order is this crate's
    /// promise, `f` need not be `Send`, and a panic in `f` never crosses the C library.
    pub fn diff(
        &self,
        from_snapshot: Option<&str>,
        mut f: impl FnMut(u64, u64, bool) -> ControlFlow<()>,
    ) -> Result<()> {
        let from = from_snapshot.map(cstring).transpose()?;
        let size = self.size()?;
        let extents = Mutex::new(Vec::new());
        let mut start = 0;
        while start < size {
            let len = (size - start).min(DIFF_WINDOW);
            // SAFETY: an open image; `from` is NUL-terminated or null; `extents` outlives the
            // call and is what `collect_extent` expects behind its argument.
            let r = unsafe {
                (self.api().rbd_diff_iterate2)(
                    self.inner.raw,
                    ptr_or_null(from.as_ref()),
                    start,
                    len,
                    1,
                    0,
                    collect_extent,
                    ptr::from_ref(&extents).cast_mut().cast(),
                )
            };
            check("rbd_diff_iterate2", &self.name, r)?;
            let mut window = std::mem::take(&mut *extents.lock().unwrap_or_else(PoisonError::into_inner));
            window.sort_unstable_by_key(|&(offset, _, _)| offset);
            for (offset, len, exists) in window {
                if f(offset, len, exists).is_break() {
                    return Ok(());
                }
            }
            start += len;
        }
        Ok(())
    }

    /// Creates a snapshot of the head.
    pub fn snap_create(&self, name: &str) -> Result<()> {
        let c_name = cstring(name)?;
        // SAFETY: an open image and a NUL-terminated name.
        let r = unsafe { (self.api().rbd_snap_create)(self.inner.raw, c_name.as_ptr()) };
        check("rbd_snap_create", &format!("{}@{name}", self.name), r).map(drop)
    }

    /// Removes a snapshot ([`crate::Error::is_not_found`] if there is none of that name).
    pub fn snap_remove(&self, name: &str) -> Result<()> {
        let c_name = cstring(name)?;
        // SAFETY: an open image and a NUL-terminated name.
        let r = unsafe { (self.api().rbd_snap_remove)(self.inner.raw, c_name.as_ptr()) };
        check("rbd_snap_remove", &format!("{}@{name}", self.name), r).map(drop)
    }

    /// The names of the image's snapshots, oldest first.
    pub fn snapshots(&self) -> Result<Vec<String>> {
        let mut capacity: c_int = 16;
        loop {
            let mut snaps: Vec<ffi::SnapInfo> =
                (0..capacity).map(|_| ffi::SnapInfo { id: 0, size: 0, name: ptr::null() }).collect();
            let mut max = capacity;
            // SAFETY: an open image; `snaps` has room for `max` entries.
            let r = unsafe { (self.api().rbd_snap_list)(self.inner.raw, snaps.as_mut_ptr(), &mut max) };
            if r == -libc::ERANGE {
                capacity = max.max(capacity * 2);
                continue;
            }
            let count = check("rbd_snap_list", &self.name, r)? as usize;
            let names = snaps[..count]
                .iter()
                // SAFETY: on success the first `count` entries hold C strings.
                .map(|snap| unsafe { CStr::from_ptr(snap.name) }.to_string_lossy().into_owned())
                .collect();
            // SAFETY: frees the names of a successful rbd_snap_list, once.
            unsafe { (self.api().rbd_snap_list_end)(snaps.as_mut_ptr()) };
            return Ok(names);
        }
    }

    /// The image metadata value of `key`, `None` if unset.
    pub fn metadata_get(&self, key: &str) -> Result<Option<String>> {
        let c_key = cstring(key)?;
        let mut value = vec![0u8; 256];
        loop {
            let mut len = value.len();
            // SAFETY: an open image, a NUL-terminated key, `value` valid for `len` bytes.
            let r = unsafe {
                (self.api().rbd_metadata_get)(
                    self.inner.raw,
                    c_key.as_ptr(),
                    value.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            match r {
                r if r == -libc::ENOENT => return Ok(None),
                r if r == -libc::ERANGE => value.resize(len.max(value.len() * 2), 0),
                r => {
                    check("rbd_metadata_get", &format!("{} {key}", self.name), r)?;
                    let value = CStr::from_bytes_until_nul(&value).map_or(&value[..], CStr::to_bytes);
                    return Ok(Some(String::from_utf8_lossy(value).into_owned()));
                }
            }
        }
    }

    /// Sets the image metadata `key` to `value`.
    pub fn metadata_set(&self, key: &str, value: &str) -> Result<()> {
        let (c_key, c_value) = (cstring(key)?, cstring(value)?);
        // SAFETY: an open image and NUL-terminated strings.
        let r = unsafe { (self.api().rbd_metadata_set)(self.inner.raw, c_key.as_ptr(), c_value.as_ptr()) };
        check("rbd_metadata_set", &format!("{} {key}", self.name), r).map(drop)
    }

    /// When the image was created.
    pub fn create_timestamp(&self) -> Result<SystemTime> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: an open image and a valid out-pointer.
        let r = unsafe { (self.api().rbd_get_create_timestamp)(self.inner.raw, &mut ts) };
        check("rbd_get_create_timestamp", &self.name, r)?;
        let since_epoch =
            Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0));
        Ok(SystemTime::UNIX_EPOCH + since_epoch)
    }
}

/// The `rbd_diff_iterate2` callback of [`Image::diff`]: records the extent. Cannot unwind
/// (the push only fails by aborting on out-of-memory).
unsafe extern "C" fn collect_extent(offset: u64, len: usize, exists: c_int, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Mutex` that `Image::diff` passed, alive until rbd_diff_iterate2
    // returns, which it does only after the last callback.
    let extents = unsafe { &*arg.cast_const().cast::<Mutex<Vec<(u64, u64, bool)>>>() };
    extents.lock().unwrap_or_else(PoisonError::into_inner).push((offset, len as u64, exists != 0));
    0
}

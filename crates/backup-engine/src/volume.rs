//! What a backup reads and a restore writes: a volume as positional reads and writes.
//!
//! A raw image file or a block device is one ([`std::fs::File`] implements both traits); a
//! volume driver for another backend (Ceph RBD) implements them over its own client. A reader
//! may also say which extents can hold data — allocated ones, or ones changed since the
//! snapshot its parent backup was taken from — and the engine then reads only the blocks they
//! touch: every other block is a zero block, or the parent's block at the same offset.

use std::fmt;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// A volume (or a snapshot of one) to back up. Reads come from one thread, in offset order.
pub trait VolumeReader: Send + Sync {
    /// Size in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Fills `buf` from `offset`; a short read is an error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// How many reads the backend serves well at once (default 1: one thread reads in
    /// order, which suits local disks). A networked backend (Ceph) answers each read after a
    /// round trip: several threads then read batches in parallel.
    fn read_concurrency(&self) -> usize {
        1
    }

    /// The extents that may hold data, when the backend knows them; `None` (the default) reads
    /// every block. `parent` is the backup this one is an incremental of: a reader that knows
    /// what changed since the snapshot that backup was taken from answers with those extents
    /// and [`Extents::since_parent`]; otherwise with the allocated extents, or `None`.
    fn extents(&self, parent: Option<&str>) -> io::Result<Option<Extents>> {
        let _ = parent;
        Ok(None)
    }
}

/// `(offset, length)` extents, produced as they are needed.
pub type ExtentIter = Box<dyn Iterator<Item = io::Result<(u64, u64)>> + Send>;

/// Extents of a volume that may hold data, as `(offset, length)` in ascending offset order
/// without overlaps (an extent out of order fails the backup rather than being skipped).
pub struct Extents {
    /// Blocks outside the extents are the parent's blocks at the same offsets (`true`), or
    /// zeros (`false`: the extents are the allocated ones).
    pub since_parent: bool,
    /// The extents, produced as the backup proceeds (they are not held in memory).
    pub ranges: ExtentIter,
}

impl fmt::Debug for Extents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extents").field("since_parent", &self.since_parent).finish_non_exhaustive()
    }
}

/// A volume a restore writes into. Writes come from one thread.
pub trait VolumeWriter: Send + Sync {
    /// Size in bytes: at least the backed-up volume's.
    fn size(&self) -> io::Result<u64>;

    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;

    /// How many writes the backend serves well at once (default 1: one thread writes, as
    /// concurrent writes to one file only contend in the kernel). A networked backend (Ceph)
    /// answers each write after a round trip: several threads then write in parallel.
    fn write_concurrency(&self) -> usize {
        1
    }

    /// Makes `len` bytes at `offset` read as zeros (only asked when the target may hold old
    /// data). The default writes zeros; a backend that can deallocate does better.
    fn write_zeroes(&self, offset: u64, len: u64) -> io::Result<()> {
        let zeros = vec![0u8; 1024 * 1024];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(zeros.len() as u64) as usize;
            self.write_all_at(&zeros[..n], offset + done)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Makes every write durable.
    fn flush(&self) -> io::Result<()>;
}

fn file_len(mut f: &File) -> io::Result<u64> {
    // Seeking to the end gives the size of block devices too (their metadata says 0); the
    // position does not matter to positional reads and writes.
    f.seek(SeekFrom::End(0))
}

impl VolumeReader for File {
    fn size(&self) -> io::Result<u64> {
        file_len(self)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl VolumeWriter for File {
    fn size(&self) -> io::Result<u64> {
        file_len(self)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn flush(&self) -> io::Result<()> {
        self.sync_data()
    }
}

/// What a backup reads: a raw image or block device by path, or any [`VolumeReader`].
#[derive(Clone)]
pub enum Source<'a> {
    /// Opened with ordinary file I/O.
    Path(&'a Path),
    /// A reader of another backend.
    Reader(Arc<dyn VolumeReader>),
}

impl<'a> From<&'a Path> for Source<'a> {
    fn from(path: &'a Path) -> Self {
        Self::Path(path)
    }
}

impl<'a> From<&'a std::path::PathBuf> for Source<'a> {
    fn from(path: &'a std::path::PathBuf) -> Self {
        Self::Path(path)
    }
}

impl fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Self::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

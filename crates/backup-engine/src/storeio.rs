//! Async object-store plumbing shared by backup, restore, verify and GC: streamed manifest
//! reading and writing, pending markers, listings.
//!
//! Manifests are never loaded whole: a reader holds one compressed chunk (~4096 entries) plus
//! one network buffer at a time, and a writer streams through a multipart upload, which is
//! invisible until completed — so a manifest appears atomically, and only after the packs it
//! points to.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::format::{
    MANIFEST_TAIL_LEN, ManifestDecoder, ManifestEntry, ManifestEvent, ManifestFooter, ManifestHeader,
    parse_manifest_head, parse_manifest_tail,
};
use crate::keys::ProjectKeys;

pub(crate) fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Streams one manifest chunk by chunk.
pub(crate) struct ManifestReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    dec: ManifestDecoder,
    header: ManifestHeader,
    footer: Option<ManifestFooter>,
    ended: bool,
}

impl ManifestReader {
    /// Opens `path`; a missing object becomes `not_found()`. The header must name `project`:
    /// a manifest copied into another project's prefix is refused.
    pub(crate) async fn open(
        store: &Arc<dyn ObjectStore>,
        path: &Path,
        project: &str,
        not_found: impl FnOnce() -> EngineError,
    ) -> Result<Self> {
        let get = match store.get(path).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let mut stream = get.into_stream();
        let mut dec = ManifestDecoder::new(path.to_string())?;
        let header = loop {
            match dec.next_event()? {
                ManifestEvent::Header(h) => break h,
                ManifestEvent::NeedMore => match stream.next().await {
                    Some(b) => dec.push(&b?),
                    None => return Err(EngineError::corrupt(path.to_string(), "truncated header")),
                },
                _ => return Err(EngineError::corrupt(path.to_string(), "header expected")),
            }
        };
        if header.project != project {
            return Err(EngineError::corrupt(path.to_string(), "manifest belongs to another project"));
        }
        Ok(Self { stream, dec, header, footer: None, ended: false })
    }

    pub(crate) fn header(&self) -> &ManifestHeader {
        &self.header
    }

    /// Next chunk of entries; `None` once the manifest ended and its checksum verified.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Vec<ManifestEntry>>> {
        loop {
            match self.dec.next_event()? {
                ManifestEvent::Entries(e) => return Ok(Some(e)),
                ManifestEvent::Footer(f) => self.footer = Some(f),
                ManifestEvent::Header(_) => {
                    return Err(EngineError::Pipeline("manifest header seen twice".into()));
                }
                ManifestEvent::NeedMore => {
                    if self.ended {
                        return Ok(None);
                    }
                    match self.stream.next().await {
                        Some(b) => self.dec.push(&b?),
                        None => {
                            self.dec.finish()?;
                            self.ended = true;
                        }
                    }
                }
            }
        }
    }

    /// Footer, available once [`Self::next_chunk`] returned `None`.
    pub(crate) fn footer(&self) -> Option<ManifestFooter> {
        self.footer
    }
}

/// Header and footer of a committed manifest, read with two small range requests.
pub(crate) async fn manifest_summary(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    project: &str,
    not_found: impl FnOnce() -> EngineError,
) -> Result<(ManifestHeader, ManifestFooter, u64)> {
    let meta = match store.head(path).await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let what = path.to_string();
    if meta.size < MANIFEST_TAIL_LEN as u64 + 13 {
        return Err(EngineError::corrupt(what, "manifest too short"));
    }
    let head = store.get_range(path, 0..meta.size.min(4096)).await?;
    let header = parse_manifest_head(&what, &head)?;
    if header.project != project {
        return Err(EngineError::corrupt(what, "manifest belongs to another project"));
    }
    let tail = store.get_range(path, meta.size - MANIFEST_TAIL_LEN as u64..meta.size).await?;
    let footer = parse_manifest_tail(&tail).ok_or_else(|| EngineError::corrupt(what, "bad tail"))?;
    Ok((header, footer, meta.size))
}

/// Streams manifest bytes into a multipart upload; nothing is visible until [`Self::finish`].
pub(crate) struct ManifestSink {
    w: WriteMultipart,
    bytes: u64,
}

impl ManifestSink {
    pub(crate) async fn create(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Self> {
        let upload = store.put_multipart(path).await?;
        // 8 MiB parts: above S3's 5 MiB minimum, and a 4 GiB volume's manifest (~4 MB) is one.
        Ok(Self { w: WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024), bytes: 0 })
    }

    pub(crate) async fn write(&mut self, data: Vec<u8>) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.bytes += data.len() as u64;
        self.w.wait_for_capacity(2).await?;
        self.w.put(Bytes::from(data));
        Ok(())
    }

    /// Completes the upload (the atomic commit point); returns the object size.
    pub(crate) async fn finish(self) -> Result<u64> {
        self.w.finish().await?;
        Ok(self.bytes)
    }

    pub(crate) async fn abort(self) {
        let _ = self.w.abort().await;
    }
}

/// Body of a pending marker (`pending/backup/{id}.json` or `pending/read/{nonce}.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingMarker {
    /// "backup" or "read".
    pub kind: String,
    /// The backup being written (backup) or read (read lease).
    pub backup_id: String,
    /// Parent whose blocks an in-flight backup may reference.
    pub parent: Option<String>,
    /// Owner tag (hex) of the packs an in-flight backup writes.
    pub owner: Option<String>,
    /// Owner tags (hex) of earlier attempts at the same backup that died, whose packs this
    /// attempt reuses (resumes from): protected like its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopted: Vec<String>,
    /// Client clock at creation, for humans; GC uses the store's `last_modified`.
    pub started_unix: u64,
}

pub(crate) async fn put_json<T: Serialize>(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    value: &T,
) -> Result<()> {
    let body =
        serde_json::to_vec(value).map_err(|e| EngineError::Pipeline(format!("serialize marker: {e}")))?;
    store.put(path, PutPayload::from(body)).await?;
    Ok(())
}

pub(crate) async fn list_all(store: &Arc<dyn ObjectStore>, prefix: &Path) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let mut s = store.list(Some(prefix));
    while let Some(m) = s.next().await {
        out.push(m?);
    }
    Ok(out)
}

/// Deletes, treating "already gone" as success (GC and aborts may race with each other).
pub(crate) async fn delete_quiet(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A read lease: while it exists, GC does not delete packs retired after it was taken, so a
/// restore or verify that read a manifest before GC rewrote it still finds its blocks.
pub(crate) struct ReadLease {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl ReadLease {
    pub(crate) async fn take(
        store: &Arc<dyn ObjectStore>,
        keys: &ProjectKeys,
        backup_id: &str,
    ) -> Result<Self> {
        let path = keys.pending_read(crate::keys::nonce(backup_id));
        let marker = PendingMarker {
            adopted: Vec::new(),
            kind: "read".into(),
            backup_id: backup_id.to_string(),
            parent: None,
            owner: None,
            started_unix: now_unix(),
        };
        put_json(store, &path, &marker).await?;
        Ok(Self { store: Arc::clone(store), path })
    }

    pub(crate) async fn release(self) {
        let _ = delete_quiet(&self.store, &self.path).await;
    }
}

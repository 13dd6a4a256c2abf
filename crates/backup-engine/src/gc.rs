//! Deleting backups and garbage collection.
//!
//! Liveness is computed, never stored: a pack is live while a committed manifest (or a
//! recently deleted one, see below) references one of its blocks. GC streams every manifest of
//! the project, sets one bit per referenced pack entry, then deletes unreferenced packs and
//! repacks mostly-dead ones. Memory is one bit per stored block plus a small record per pack
//! (about 4 MB for 1 TiB of 64 KiB blocks), independent of volume sizes.
//!
//! What GC must not break, and the rule that protects it:
//! * An in-flight backup's own packs (no manifest yet): its pending marker names its owner
//!   tag; packs of a live marker's owner are kept. Packs younger than `grace` are kept too
//!   (covers writers GC listed before they existed).
//! * Blocks an in-flight backup reuses from its parent: the marker names the parent, and a
//!   parent deleted meanwhile stays in `trash/` — still counted live — while a live marker
//!   names it or for `grace` after its deletion (covers a backup that read the parent just
//!   before GC listed the markers).
//! * Blocks whose manifests GC rewrote during a repack: the old pack is only *retired*
//!   (`retired/…` record) and deleted by a later run once no pending marker older than the
//!   retirement exists (a backup or restore that started earlier may hold the old references)
//!   and no manifest references it.
//!
//! Order inside a run matters: packs are listed before markers, markers before manifests, so
//! every object that exists is either listed with its protection or created after the listing.
//! One GC at a time per project; `delete_backup` must not run concurrently with GC's repack of
//! the same project (a rewritten manifest could resurrect a deleted one) — the service
//! serialises both behind a per-project lock. Backups, restores and verifies may run at any
//! time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::error::{EngineError, Result};
use crate::format::{
    BlockRef, Check, ManifestEncoder, PACK_HEADER_LEN, PACK_INDEX_ENTRY_LEN, PACK_TRAILER_LEN, PackBuilder,
    PackId, decode_block, parse_pack,
};
use crate::keys::{ProjectKeys, nonce, validate_id};
use crate::storeio::{
    ManifestReader, ManifestSink, PendingMarker, delete_quiet, list_all, now_unix, put_json,
};
use crate::types::{EngineConfig, GcOptions, GcReport};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

pub(crate) async fn delete_backup(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    project: &str,
    backup_id: &str,
) -> Result<()> {
    let keys = ProjectKeys::new(&config.root_prefix, project)?;
    validate_id("backup", backup_id)?;
    let path = keys.manifest(backup_id);
    match store.head(&path).await {
        Ok(_) => {}
        Err(object_store::Error::NotFound { .. }) => {
            return Err(EngineError::BackupNotFound(backup_id.to_string()));
        }
        Err(e) => return Err(e.into()),
    }
    // The record's own write time is the deletion time GC's grace counts from (a rename keeps
    // the manifest's old modification time on some stores).
    put_json(store, &keys.trash_record(backup_id), &serde_json::json!({ "deleted_unix": now_unix() }))
        .await?;
    store.rename(&path, &keys.trash_manifest(backup_id)).await?;
    Ok(())
}

#[derive(Default)]
struct PackLive {
    bits: Vec<u64>,
    live_bytes: u64,
    live_count: u64,
    /// Referenced by a deleted-but-protected manifest: not repacked (that manifest is not
    /// rewritten).
    from_trash: bool,
}

impl PackLive {
    fn mark(&mut self, index: u32, stored_len: u32) {
        let (w, b) = ((index / 64) as usize, index % 64);
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) == 0 {
            self.bits[w] |= 1 << b;
            self.live_bytes += stored_len as u64;
            self.live_count += 1;
        }
    }

    fn is_live(&self, index: usize) -> bool {
        self.bits.get(index / 64).is_some_and(|w| w & (1 << (index % 64)) != 0)
    }
}

struct ListedPack {
    id: PackId,
    size: u64,
    modified_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct RetiredRecord {
    retired_unix: u64,
}

pub(crate) async fn run_gc(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    project: &str,
    opts: &GcOptions,
) -> Result<GcReport> {
    let keys = ProjectKeys::new(&config.root_prefix, project)?;
    if !(0.0..=1.0).contains(&opts.repack_threshold) {
        return Err(EngineError::InvalidInput("repack_threshold must be within 0.0..=1.0".into()));
    }
    let grace_ms = opts.grace.as_millis() as i64;
    let ttl_ms = opts.pending_ttl.as_millis() as i64;
    let mut report = GcReport::default();

    // 1. Packs.
    let mut packs: Vec<ListedPack> = Vec::new();
    for m in list_all(store, &keys.packs_prefix()).await? {
        if let Some(id) = keys.parse_pack(&m.location) {
            packs.push(ListedPack { id, size: m.size, modified_ms: m.last_modified.timestamp_millis() });
        }
    }
    report.packs_seen = packs.len() as u64;

    // 2. Pending markers.
    let mut live_owners: HashSet<u64> = HashSet::new();
    let mut live_parents: HashSet<String> = HashSet::new();
    let mut marker_times: Vec<i64> = Vec::new();
    let now = now_ms();
    for m in list_all(store, &keys.pending_prefix()).await? {
        let t = m.last_modified.timestamp_millis();
        if now - t > ttl_ms {
            delete_quiet(store, &m.location).await?;
            report.stale_markers_removed += 1;
            continue;
        }
        marker_times.push(t);
        let body = match store.get(&m.location).await {
            Ok(g) => g.bytes().await?,
            // Removed since listing: its backup committed (its manifest is listed below).
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        // An unreadable marker still counts as "something in flight" via marker_times.
        if let Ok(pm) = serde_json::from_slice::<PendingMarker>(&body) {
            if let Some(o) = pm.owner.as_deref().and_then(|o| u64::from_str_radix(o, 16).ok()) {
                live_owners.insert(o);
            }
            if let Some(p) = pm.parent {
                live_parents.insert(p);
            }
        }
    }

    // 3. Manifests, committed and deleted.
    let mut manifests: Vec<(String, Path)> = Vec::new();
    for m in list_all(store, &keys.manifests_prefix()).await? {
        if let Some(id) = keys.parse_manifest(&m.location) {
            manifests.push((id, m.location));
        }
    }
    let mut trash_records: HashMap<String, i64> = HashMap::new();
    let mut trash_manifests: HashSet<String> = HashSet::new();
    for m in list_all(store, &keys.trash_prefix()).await? {
        match keys.parse_trash(&m.location) {
            Some((id, true)) => {
                trash_records.insert(id, m.last_modified.timestamp_millis());
            }
            Some((id, false)) => {
                trash_manifests.insert(id);
            }
            None => {}
        }
    }
    let mut protected_trash: Vec<String> = Vec::new();
    let mut purge_trash: Vec<String> = Vec::new();
    for id in &trash_manifests {
        let young = trash_records.get(id).is_some_and(|t| now - *t < grace_ms);
        if young || live_parents.contains(id) {
            protected_trash.push(id.clone());
        } else {
            purge_trash.push(id.clone());
        }
    }

    // 4. Liveness: stream every live manifest.
    let mut live: HashMap<PackId, PackLive> = HashMap::new();
    for (id, path) in &manifests {
        match mark_manifest(store, project, path, &mut live, false).await {
            Ok(()) => {}
            // Deleted since listing: its trash copy is young, hence protected, and was listed
            // or will be seen by the next run; its packs are at worst kept one run longer.
            Err(EngineError::BackupNotFound(_)) => {
                let _ = id;
            }
            Err(e) => return Err(e),
        }
    }
    for id in &protected_trash {
        match mark_manifest(store, project, &keys.trash_manifest(id), &mut live, true).await {
            Ok(()) | Err(EngineError::BackupNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let listed: HashSet<PackId> = packs.iter().map(|p| p.id).collect();
    for id in live.keys().filter(|id| !listed.contains(id)) {
        // Possibly written after the listing; only a confirmed absence counts.
        if let Err(object_store::Error::NotFound { .. }) = store.head(&keys.pack(*id)).await {
            report.missing_packs += 1;
        }
    }

    // 5. Retired packs from earlier repacks.
    let sizes: HashMap<PackId, u64> = packs.iter().map(|p| (p.id, p.size)).collect();
    let mut retired: HashSet<PackId> = HashSet::new();
    for m in list_all(store, &keys.retired_prefix()).await? {
        let Some(id) = keys.parse_retired(&m.location) else {
            continue;
        };
        retired.insert(id);
        if live.contains_key(&id) {
            // Referenced again (a backup that started before the retirement committed
            // references to it): an ordinary pack once more.
            delete_quiet(store, &m.location).await?;
            continue;
        }
        let t = m.last_modified.timestamp_millis();
        if marker_times.iter().any(|mt| *mt <= t) {
            report.packs_protected += 1;
            continue;
        }
        delete_quiet(store, &keys.pack(id)).await?;
        delete_quiet(store, &m.location).await?;
        if let Some(s) = sizes.get(&id) {
            report.packs_deleted += 1;
            report.bytes_freed += s;
        }
    }

    // 6. Unreferenced packs.
    for p in &packs {
        if live.contains_key(&p.id) || retired.contains(&p.id) {
            continue;
        }
        if live_owners.contains(&p.id.owner) || now - p.modified_ms < grace_ms {
            report.packs_protected += 1;
            continue;
        }
        delete_quiet(store, &keys.pack(p.id)).await?;
        report.packs_deleted += 1;
        report.bytes_freed += p.size;
    }
    for id in &purge_trash {
        delete_quiet(store, &keys.trash_manifest(id)).await?;
        delete_quiet(store, &keys.trash_record(id)).await?;
        report.trash_purged += 1;
    }
    for (id, t) in &trash_records {
        if !trash_manifests.contains(id) && now - *t >= grace_ms {
            delete_quiet(store, &keys.trash_record(id)).await?;
        }
    }

    // 7. Repack mostly-dead packs.
    let mut candidates: Vec<(PackId, f64, u64)> = Vec::new();
    for p in &packs {
        let Some(l) = live.get(&p.id) else { continue };
        if l.from_trash || live_owners.contains(&p.id.owner) || retired.contains(&p.id) {
            continue;
        }
        let live_total = l.live_bytes
            + l.live_count * PACK_INDEX_ENTRY_LEN as u64
            + (PACK_HEADER_LEN + PACK_TRAILER_LEN) as u64;
        let dead = 1.0 - (live_total as f64 / p.size.max(1) as f64);
        if dead >= opts.repack_threshold && dead > 0.0 {
            candidates.push((p.id, dead, l.live_bytes));
        }
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut budget = opts.max_repack_bytes;
    let mut chosen = Vec::new();
    for (id, _, bytes) in candidates {
        if bytes <= budget {
            budget -= bytes;
            chosen.push(id);
        }
    }
    if !chosen.is_empty() {
        repack(store, config, &keys, project, &manifests, &live, chosen, &mut report).await?;
    }
    Ok(report)
}

async fn mark_manifest(
    store: &Arc<dyn ObjectStore>,
    project: &str,
    path: &Path,
    live: &mut HashMap<PackId, PackLive>,
    from_trash: bool,
) -> Result<()> {
    let mut r =
        ManifestReader::open(store, path, project, || EngineError::BackupNotFound(path.to_string())).await?;
    while let Some(chunk) = r.next_chunk().await? {
        for e in chunk.into_iter().flatten() {
            let l = live.entry(e.pack).or_default();
            l.mark(e.index, e.stored_len);
            l.from_trash |= from_trash;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn repack(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    keys: &ProjectKeys,
    project: &str,
    manifests: &[(String, Path)],
    live: &HashMap<PackId, PackLive>,
    chosen: Vec<PackId>,
    report: &mut GcReport,
) -> Result<()> {
    let owner = nonce("gc");
    let mut seq = 0u64;
    let cap = config.pack_target_size + config.block_size + 64 * 1024;
    let mut pack: Option<PackBuilder> = None;
    let mut uploads: JoinSet<Result<()>> = JoinSet::new();
    let mut moved: HashMap<(PackId, u32), BlockRef> = HashMap::new();
    let mut done: Vec<PackId> = Vec::new();
    let mut dec = zstd::bulk::Decompressor::new().map_err(|e| EngineError::Pipeline(format!("zstd: {e}")))?;
    let mut scratch = Vec::new();

    for id in chosen {
        let Some(l) = live.get(&id) else { continue };
        let data = match store.get(&keys.pack(id)).await {
            Ok(g) => g.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let index = match parse_pack(keys.pack(id).as_ref(), id, &data) {
            Ok(i) => i,
            // A damaged pack is left alone for verify to report; copying it would hide it.
            Err(_) => continue,
        };
        // Check every live block before moving any, so a pack is moved whole or not at all.
        let mut entries = Vec::new();
        let mut intact = true;
        for (i, e) in index.iter().enumerate() {
            if !l.is_live(i) {
                continue;
            }
            let r = BlockRef {
                hash: e.hash,
                pack: id,
                index: i as u32,
                offset: e.offset,
                stored_len: e.stored_len,
                raw_len: e.raw_len,
                codec: e.codec,
                check: None,
            };
            let payload = &data[e.offset as usize..(e.offset + e.stored_len) as usize];
            if decode_block(&mut dec, &r, payload, &mut scratch, Check::Full).is_err() {
                intact = false;
                break;
            }
            entries.push((r, payload));
        }
        if !intact || entries.len() as u64 != l.live_count {
            continue;
        }
        for (r, payload) in entries {
            if let Some(p) = &pack
                && !p.is_empty()
                && p.len() + payload.len() > config.pack_target_size
                && let Some(full) = pack.take()
            {
                upload(store, keys, full, &mut uploads, config, report).await?;
            }
            let p = pack.get_or_insert_with(|| {
                seq += 1;
                PackBuilder::new(PackId { owner, seq: seq - 1 }, cap)
            });
            let new = p.push(r.hash, r.codec, r.raw_len, payload)?;
            report.repack_bytes_copied += payload.len() as u64;
            moved.insert((id, r.index), new);
        }
        done.push(id);
    }
    if let Some(p) = pack.take()
        && !p.is_empty()
    {
        upload(store, keys, p, &mut uploads, config, report).await?;
    }
    while let Some(r) = uploads.join_next().await {
        r.map_err(|e| EngineError::Pipeline(format!("upload: {e}")))??;
    }
    if done.is_empty() {
        return Ok(());
    }
    let done_set: HashSet<PackId> = done.iter().copied().collect();

    // Point every manifest at the copies; each rewrite is one atomic multipart commit.
    for (_, path) in manifests {
        if !references_any(store, project, path, &done_set).await? {
            continue;
        }
        if rewrite_manifest(store, project, path, &moved).await? {
            report.manifests_rewritten += 1;
        }
    }
    for id in done {
        put_json(store, &keys.retired(id), &RetiredRecord { retired_unix: now_unix() }).await?;
        report.packs_repacked += 1;
    }
    Ok(())
}

async fn upload(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    pack: PackBuilder,
    uploads: &mut JoinSet<Result<()>>,
    config: &EngineConfig,
    report: &mut GcReport,
) -> Result<()> {
    while uploads.len() >= config.max_inflight_uploads.max(1) {
        if let Some(r) = uploads.join_next().await {
            r.map_err(|e| EngineError::Pipeline(format!("upload: {e}")))??;
        }
    }
    let path = keys.pack(pack.id());
    let bytes = pack.finish();
    report.repack_packs_written += 1;
    let store = Arc::clone(store);
    uploads.spawn(async move {
        store.put(&path, PutPayload::from(Bytes::from(bytes))).await?;
        Ok(())
    });
    Ok(())
}

async fn references_any(
    store: &Arc<dyn ObjectStore>,
    project: &str,
    path: &Path,
    packs: &HashSet<PackId>,
) -> Result<bool> {
    let mut r =
        match ManifestReader::open(store, path, project, || EngineError::BackupNotFound(path.to_string()))
            .await
        {
            Ok(r) => r,
            Err(EngineError::BackupNotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
    while let Some(chunk) = r.next_chunk().await? {
        if chunk.iter().flatten().any(|e| packs.contains(&e.pack)) {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn rewrite_manifest(
    store: &Arc<dyn ObjectStore>,
    project: &str,
    path: &Path,
    moved: &HashMap<(PackId, u32), BlockRef>,
) -> Result<bool> {
    let mut r =
        match ManifestReader::open(store, path, project, || EngineError::BackupNotFound(path.to_string()))
            .await
        {
            Ok(r) => r,
            Err(EngineError::BackupNotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
    let mut enc = ManifestEncoder::new(r.header())?;
    let mut sink = ManifestSink::create(store, path).await?;
    let result: Result<()> = async {
        while let Some(chunk) = r.next_chunk().await? {
            for e in chunk {
                // The copy keeps the block's checksum (a pack-level reference has none).
                let e =
                    e.map(|b| moved.get(&(b.pack, b.index)).map_or(b, |n| BlockRef { check: b.check, ..*n }));
                enc.push(&e)?;
            }
            if enc.output_len() >= 1024 * 1024 {
                sink.write(enc.take_output()).await?;
            }
        }
        Ok(())
    }
    .await;
    let footer = match (result, r.footer()) {
        (Ok(()), Some(f)) => f,
        (Err(e), _) => {
            sink.abort().await;
            return Err(e);
        }
        (Ok(()), None) => {
            sink.abort().await;
            return Err(EngineError::corrupt(path.to_string(), "no footer"));
        }
    };
    sink.write(enc.finish(&footer)?).await?;
    // Narrow (not close) the window in which a concurrent delete would be undone.
    match store.head(path).await {
        Ok(_) => {
            sink.finish().await?;
            Ok(true)
        }
        Err(_) => {
            sink.abort().await;
            Ok(false)
        }
    }
}

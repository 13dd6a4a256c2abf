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
//!   tag, and those of the dead attempts it resumes from; packs of a live marker's owners are
//!   kept. Packs younger than `grace` are kept too
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

mod repack;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{EngineError, Result};
use crate::format::{PACK_HEADER_LEN, PACK_INDEX_ENTRY_LEN, PACK_TRAILER_LEN, PackId};
use crate::keys::{ProjectKeys, validate_id};
use crate::staging;
use crate::storeio::{ManifestReader, PendingMarker, delete_quiet, list_all, now_unix, put_json};
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

/// What live pending markers protect (phase 2).
struct InFlight {
    /// Owner tags of in-flight backups: their packs are kept.
    owners: HashSet<u64>,
    /// Parents of in-flight backups: kept in trash while named.
    parents: HashSet<String>,
    /// When each live marker was written: a retired pack is kept while one predates it.
    times: Vec<i64>,
}

/// Committed and deleted manifests (phase 3).
struct Manifests {
    /// Committed backups: `(backup_id, manifest key)`.
    committed: Vec<(String, Path)>,
    /// Deletion records: backup id → deletion time.
    trash_records: HashMap<String, i64>,
    /// Deleted backups whose manifest is still in trash.
    trash_manifests: HashSet<String>,
    /// Trashed manifests that still count as live.
    protected_trash: Vec<String>,
    /// Trashed manifests to delete for good.
    purge_trash: Vec<String>,
}

/// One GC run of one project: what every phase reads, and the report they fill in.
struct Gc<'a> {
    store: &'a Arc<dyn ObjectStore>,
    config: &'a EngineConfig,
    keys: ProjectKeys,
    project: &'a str,
    grace_ms: i64,
    ttl_ms: i64,
    report: GcReport,
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
    let mut gc = Gc {
        store,
        config,
        keys,
        project,
        grace_ms: opts.grace.as_millis() as i64,
        ttl_ms: opts.pending_ttl.as_millis() as i64,
        report: GcReport::default(),
    };
    // The listing order (packs, markers, manifests) is what makes the run safe: see the module
    // docs.
    let packs = gc.list_packs().await?;
    let now = now_ms();
    let in_flight = gc.read_markers(now).await?;
    let manifests = gc.list_manifests(&in_flight, now).await?;
    let live = gc.mark_live(&manifests, &packs).await?;
    let retired = gc.sweep_retired(&packs, &live, &in_flight).await?;
    gc.sweep_unreferenced(&packs, &live, &retired, &in_flight, now).await?;
    gc.purge_trash(&manifests, now).await?;
    gc.sweep_staging().await?;
    let chosen = choose_repack(&packs, &live, &retired, &in_flight, opts);
    if !chosen.is_empty() {
        gc.repack(&manifests.committed, &live, chosen).await?;
    }
    Ok(gc.report)
}

impl Gc<'_> {
    /// Phase 1: the packs that exist now.
    async fn list_packs(&mut self) -> Result<Vec<ListedPack>> {
        let mut packs: Vec<ListedPack> = Vec::new();
        for m in list_all(self.store, &self.keys.packs_prefix()).await? {
            if let Some(id) = self.keys.parse_pack(&m.location) {
                packs.push(ListedPack { id, size: m.size, modified_ms: m.last_modified.timestamp_millis() });
            }
        }
        self.report.packs_seen = packs.len() as u64;
        Ok(packs)
    }

    /// Phase 2: pending markers; expired ones are removed and protect nothing.
    async fn read_markers(&mut self, now: i64) -> Result<InFlight> {
        let mut in_flight = InFlight { owners: HashSet::new(), parents: HashSet::new(), times: Vec::new() };
        for m in list_all(self.store, &self.keys.pending_prefix()).await? {
            let t = m.last_modified.timestamp_millis();
            if now - t > self.ttl_ms {
                delete_quiet(self.store, &m.location).await?;
                self.report.stale_markers_removed += 1;
                continue;
            }
            in_flight.times.push(t);
            let body = match self.store.get(&m.location).await {
                Ok(g) => g.bytes().await?,
                // Removed since listing: its backup committed (its manifest is listed below).
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            // An unreadable marker still counts as "something in flight" via its time.
            if let Ok(pm) = serde_json::from_slice::<PendingMarker>(&body) {
                for o in pm.owner.iter().chain(&pm.adopted).filter_map(|o| u64::from_str_radix(o, 16).ok()) {
                    in_flight.owners.insert(o);
                }
                if let Some(p) = pm.parent {
                    in_flight.parents.insert(p);
                }
            }
        }
        Ok(in_flight)
    }

    /// Phase 3: committed manifests, and which deleted ones are still protected.
    async fn list_manifests(&self, in_flight: &InFlight, now: i64) -> Result<Manifests> {
        let mut committed: Vec<(String, Path)> = Vec::new();
        for m in list_all(self.store, &self.keys.manifests_prefix()).await? {
            if let Some(id) = self.keys.parse_manifest(&m.location) {
                committed.push((id, m.location));
            }
        }
        let mut trash_records: HashMap<String, i64> = HashMap::new();
        let mut trash_manifests: HashSet<String> = HashSet::new();
        for m in list_all(self.store, &self.keys.trash_prefix()).await? {
            match self.keys.parse_trash(&m.location) {
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
            let young = trash_records.get(id).is_some_and(|t| now - *t < self.grace_ms);
            if young || in_flight.parents.contains(id) {
                protected_trash.push(id.clone());
            } else {
                purge_trash.push(id.clone());
            }
        }
        Ok(Manifests { committed, trash_records, trash_manifests, protected_trash, purge_trash })
    }

    /// Phase 4: liveness, by streaming every live manifest; counts referenced packs that are
    /// gone.
    async fn mark_live(
        &mut self,
        manifests: &Manifests,
        packs: &[ListedPack],
    ) -> Result<HashMap<PackId, PackLive>> {
        let mut live: HashMap<PackId, PackLive> = HashMap::new();
        for (_, path) in &manifests.committed {
            match mark_manifest(self.store, self.project, path, &mut live, false).await {
                // Deleted since listing: its trash copy is young, hence protected, and was
                // listed or will be seen by the next run; its packs are at worst kept one run
                // longer.
                Ok(()) | Err(EngineError::BackupNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for id in &manifests.protected_trash {
            let path = self.keys.trash_manifest(id);
            match mark_manifest(self.store, self.project, &path, &mut live, true).await {
                Ok(()) | Err(EngineError::BackupNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let listed: HashSet<PackId> = packs.iter().map(|p| p.id).collect();
        for id in live.keys().filter(|id| !listed.contains(id)) {
            // Possibly written after the listing; only a confirmed absence counts.
            if let Err(object_store::Error::NotFound { .. }) = self.store.head(&self.keys.pack(*id)).await {
                self.report.missing_packs += 1;
            }
        }
        Ok(live)
    }

    /// Phase 5: packs retired by earlier repacks are deleted once nothing can still read them.
    /// Returns every retired pack seen.
    async fn sweep_retired(
        &mut self,
        packs: &[ListedPack],
        live: &HashMap<PackId, PackLive>,
        in_flight: &InFlight,
    ) -> Result<HashSet<PackId>> {
        let sizes: HashMap<PackId, u64> = packs.iter().map(|p| (p.id, p.size)).collect();
        let mut retired: HashSet<PackId> = HashSet::new();
        for m in list_all(self.store, &self.keys.retired_prefix()).await? {
            let Some(id) = self.keys.parse_retired(&m.location) else {
                continue;
            };
            retired.insert(id);
            if live.contains_key(&id) {
                // Referenced again (a backup that started before the retirement committed
                // references to it): an ordinary pack once more.
                delete_quiet(self.store, &m.location).await?;
                continue;
            }
            let t = m.last_modified.timestamp_millis();
            if in_flight.times.iter().any(|mt| *mt <= t) {
                self.report.packs_protected += 1;
                continue;
            }
            delete_quiet(self.store, &self.keys.pack(id)).await?;
            delete_quiet(self.store, &m.location).await?;
            if let Some(s) = sizes.get(&id) {
                self.report.packs_deleted += 1;
                self.report.bytes_freed += s;
            }
        }
        Ok(retired)
    }

    /// Phase 6c: staging files of writes that were killed (a local store's directory only),
    /// once older than the grace — and never younger than [`staging::MIN_AGE`], so no live
    /// write loses its file.
    async fn sweep_staging(&mut self) -> Result<()> {
        let Some(root) = &self.config.local_root else { return Ok(()) };
        let min_age = staging::MIN_AGE.max(Duration::from_millis(self.grace_ms.max(0) as u64));
        for f in staging::find(root.join(self.keys.base())).await? {
            if f.age < min_age {
                continue;
            }
            match std::fs::remove_file(&f.path) {
                Ok(()) => {
                    self.report.staging_files_removed += 1;
                    self.report.staging_bytes_freed += f.size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::io(&f.path, e)),
            }
        }
        Ok(())
    }

    /// Phase 6a: packs nothing references, unless in flight or younger than the grace.
    async fn sweep_unreferenced(
        &mut self,
        packs: &[ListedPack],
        live: &HashMap<PackId, PackLive>,
        retired: &HashSet<PackId>,
        in_flight: &InFlight,
        now: i64,
    ) -> Result<()> {
        for p in packs {
            if live.contains_key(&p.id) || retired.contains(&p.id) {
                continue;
            }
            if in_flight.owners.contains(&p.id.owner) || now - p.modified_ms < self.grace_ms {
                self.report.packs_protected += 1;
                continue;
            }
            delete_quiet(self.store, &self.keys.pack(p.id)).await?;
            self.report.packs_deleted += 1;
            self.report.bytes_freed += p.size;
        }
        Ok(())
    }

    /// Phase 6b: deleted backups no longer protected, and deletion records past the grace.
    async fn purge_trash(&mut self, manifests: &Manifests, now: i64) -> Result<()> {
        for id in &manifests.purge_trash {
            delete_quiet(self.store, &self.keys.trash_manifest(id)).await?;
            delete_quiet(self.store, &self.keys.trash_record(id)).await?;
            self.report.trash_purged += 1;
        }
        for (id, t) in &manifests.trash_records {
            if !manifests.trash_manifests.contains(id) && now - *t >= self.grace_ms {
                delete_quiet(self.store, &self.keys.trash_record(id)).await?;
            }
        }
        Ok(())
    }
}

/// Phase 7: the mostly-dead packs to repack, deadest first, within the run's byte budget.
/// Packs a trashed manifest or an in-flight backup references are left alone: those
/// references would not be rewritten.
fn choose_repack(
    packs: &[ListedPack],
    live: &HashMap<PackId, PackLive>,
    retired: &HashSet<PackId>,
    in_flight: &InFlight,
    opts: &GcOptions,
) -> Vec<PackId> {
    let mut candidates: Vec<(PackId, f64, u64)> = Vec::new();
    for p in packs {
        let Some(l) = live.get(&p.id) else { continue };
        if l.from_trash || in_flight.owners.contains(&p.id.owner) || retired.contains(&p.id) {
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
    chosen
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

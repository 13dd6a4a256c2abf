//! Verify: every block a backup references is read, decoded and checked in full (BLAKE3
//! and, where the manifest has one, the checksum). Damaged or missing blocks are counted,
//! not fatal.

use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;

use super::plan::Job;
use super::run_jobs;
use crate::error::{EngineError, Result};
use crate::format::{Check, decode_block};
use crate::keys::{ProjectKeys, validate_id};
use crate::storeio::{ManifestReader, ReadLease};
use crate::types::{EngineConfig, VerifyReport};

pub(crate) async fn run_verify(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    project: &str,
    backup_id: &str,
) -> Result<VerifyReport> {
    let keys = ProjectKeys::new(&config.root_prefix, project)?;
    validate_id("backup", backup_id)?;
    let lease = ReadLease::take(store, &keys, backup_id).await?;
    let r = verify_inner(store, config, &keys, project, backup_id).await;
    lease.release().await;
    r
}

async fn verify_inner(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    keys: &ProjectKeys,
    project: &str,
    backup_id: &str,
) -> Result<VerifyReport> {
    let reader = ManifestReader::open(store, &keys.manifest(backup_id), project, || {
        EngineError::BackupNotFound(backup_id.to_string())
    })
    .await?;
    let total = reader.header().block_count();
    let state = Arc::new(std::sync::Mutex::new(VerifyReport::default()));
    let s = Arc::clone(&state);
    let process =
        Arc::new(move |job: Job, data: std::result::Result<Bytes, object_store::Error>| -> Result<()> {
            let Job::Fetch { start, blocks, .. } = job else {
                return Ok(());
            };
            let mut ok = 0u64;
            let mut bad = Vec::new();
            match data {
                Err(_) => bad.extend(blocks.iter().map(|(o, _)| *o)),
                Ok(data) => {
                    let mut dec = zstd::bulk::Decompressor::new()
                        .map_err(|e| EngineError::Pipeline(format!("zstd: {e}")))?;
                    let mut out = Vec::new();
                    for (off, r) in &blocks {
                        let s = (r.offset - start) as usize;
                        let good = data
                            .get(s..s + r.stored_len as usize)
                            .map(|p| decode_block(&mut dec, r, p, &mut out, Check::Full).is_ok())
                            .unwrap_or(false);
                        if good {
                            ok += 1;
                        } else {
                            bad.push(*off);
                        }
                    }
                }
            }
            let mut st = s.lock().map_err(|_| EngineError::Pipeline("verify state poisoned".into()))?;
            st.ok_blocks += ok;
            st.bad_blocks += bad.len() as u64;
            for o in bad {
                if st.first_bad_offsets.len() < 64 {
                    st.first_bad_offsets.push(o);
                }
            }
            Ok(())
        });
    run_jobs(store, keys, config, reader, false, process).await?;
    let mut report = state.lock().map_err(|_| EngineError::Pipeline("verify state poisoned".into()))?.clone();
    report.first_bad_offsets.sort_unstable();
    report.zero_blocks = total.saturating_sub(report.ok_blocks + report.bad_blocks);
    Ok(report)
}

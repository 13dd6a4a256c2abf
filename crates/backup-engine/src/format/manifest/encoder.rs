//! Writing manifests, chunk by chunk.

use super::{
    FOOTER_LEN, MANIFEST_CHUNK_ENTRIES, MANIFEST_MAGIC, MAX_ENTRY_LEN, ManifestEntry, ManifestFooter,
    ManifestHeader,
};
use crate::error::{EngineError, Result};
use crate::format::MANIFEST_VERSION;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_ref(out: &mut Vec<u8>, e: &ManifestEntry) {
    match e {
        None => out.push(0),
        Some(r) => {
            out.push(if r.check.is_some() { 2 } else { 1 });
            out.extend_from_slice(&r.hash);
            out.extend_from_slice(&r.pack.to_bytes());
            out.extend_from_slice(&r.index.to_le_bytes());
            out.extend_from_slice(&r.offset.to_le_bytes());
            out.extend_from_slice(&r.stored_len.to_le_bytes());
            out.extend_from_slice(&r.raw_len.to_le_bytes());
            out.push(r.codec.to_byte());
            if let Some(c) = r.check {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
    }
}

/// Streaming manifest encoder, writing the layout described in [the module docs](super).
///
/// Output accumulates in an internal buffer that the caller drains with [`Self::take_output`],
/// so memory is one chunk plus whatever the caller has not drained yet.
pub struct ManifestEncoder {
    out: Vec<u8>,
    hasher: blake3::Hasher,
    pending: Vec<u8>,
    pending_count: u32,
    written: u64,
    compressor: zstd::bulk::Compressor<'static>,
}

impl ManifestEncoder {
    /// Starts a manifest with its header.
    pub fn new(header: &ManifestHeader) -> Result<Self> {
        let mut compressor =
            zstd::bulk::Compressor::new(3).map_err(|e| EngineError::Pipeline(format!("zstd init: {e}")))?;
        compressor.include_checksum(true).map_err(|e| EngineError::Pipeline(format!("zstd init: {e}")))?;
        let mut h = Vec::new();
        h.extend_from_slice(&header.block_size.to_le_bytes());
        h.extend_from_slice(&header.volume_len.to_le_bytes());
        h.extend_from_slice(&header.created_unix.to_le_bytes());
        put_str(&mut h, &header.project);
        put_str(&mut h, &header.backup_id);
        match &header.parent {
            Some(p) => {
                h.push(1);
                put_str(&mut h, p);
            }
            None => h.push(0),
        }
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(MANIFEST_MAGIC);
        out.push(MANIFEST_VERSION);
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        out.extend_from_slice(&h);
        let mut hasher = blake3::Hasher::new();
        hasher.update(&out);
        Ok(Self {
            out,
            hasher,
            pending: Vec::with_capacity(MANIFEST_CHUNK_ENTRIES * MAX_ENTRY_LEN),
            pending_count: 0,
            written: 0,
            compressor,
        })
    }

    /// Appends the next entry (offset order).
    pub fn push(&mut self, e: &ManifestEntry) -> Result<()> {
        encode_ref(&mut self.pending, e);
        self.pending_count += 1;
        self.written += 1;
        if self.pending_count as usize >= MANIFEST_CHUNK_ENTRIES {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Entries pushed so far.
    pub fn entries(&self) -> u64 {
        self.written
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.out.extend_from_slice(bytes);
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.pending_count == 0 {
            return Ok(());
        }
        let comp = self
            .compressor
            .compress(&self.pending)
            .map_err(|e| EngineError::Pipeline(format!("zstd: {e}")))?;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&self.pending_count.to_le_bytes());
        head[4..].copy_from_slice(&(comp.len() as u32).to_le_bytes());
        self.emit(&head);
        self.emit(&comp);
        self.pending.clear();
        self.pending_count = 0;
        Ok(())
    }

    /// Encoded bytes ready to be written.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Bytes waiting in [`Self::take_output`].
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Ends the manifest; returns the remaining output.
    pub fn finish(mut self, footer: &ManifestFooter) -> Result<Vec<u8>> {
        self.flush_chunk()?;
        self.emit(&0u32.to_le_bytes());
        let mut f = Vec::with_capacity(FOOTER_LEN);
        for v in footer.to_words() {
            f.extend_from_slice(&v.to_le_bytes());
        }
        self.emit(&f);
        let digest = self.hasher.finalize();
        self.out.extend_from_slice(digest.as_bytes());
        Ok(self.out)
    }
}

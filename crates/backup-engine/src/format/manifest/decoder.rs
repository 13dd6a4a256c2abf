//! Reading manifests: a push-based decoder that validates as it goes, so a reader can act
//! on each chunk of entries before the rest of the manifest has arrived.

use super::{
    FOOTER_LEN, MANIFEST_MAGIC, MAX_CHUNK_ENTRIES, MAX_ENTRY_LEN, MAX_HEADER_LEN, ManifestEntry,
    ManifestFooter, ManifestHeader, REF_LEN,
};
use crate::error::{EngineError, Result};
use crate::format::block::{BlockRef, Codec};
use crate::format::pack::{PACK_HEADER_LEN, PackId};
use crate::format::{MANIFEST_VERSION, le32, le64};

/// What [`ManifestDecoder::next_event`] produced.
#[derive(Debug)]
pub enum ManifestEvent {
    /// More input is needed ([`ManifestDecoder::push`]).
    NeedMore,
    /// The header (first event).
    Header(ManifestHeader),
    /// The next chunk of entries.
    Entries(Vec<ManifestEntry>),
    /// The footer; the manifest checked out and is complete.
    Footer(ManifestFooter),
}

#[derive(Debug, PartialEq, Eq)]
enum DecState {
    Header,
    Chunks,
    Footer,
    Done,
}

/// Push-based manifest decoder with full validation (entry counts and lengths against the
/// header, codec bytes, zstd frame checksums, and the trailing BLAKE3 of the whole object).
pub struct ManifestDecoder {
    what: String,
    buf: Vec<u8>,
    pos: usize,
    state: DecState,
    hasher: blake3::Hasher,
    header: Option<ManifestHeader>,
    version: u8,
    seen: u64,
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl ManifestDecoder {
    /// `what` names the object in errors.
    pub fn new(what: impl Into<String>) -> Result<Self> {
        Ok(Self {
            what: what.into(),
            buf: Vec::new(),
            pos: 0,
            state: DecState::Header,
            hasher: blake3::Hasher::new(),
            header: None,
            version: 0,
            seen: 0,
            decompressor: zstd::bulk::Decompressor::new()
                .map_err(|e| EngineError::Pipeline(format!("zstd init: {e}")))?,
        })
    }

    fn bad(&self, detail: impl Into<String>) -> EngineError {
        EngineError::corrupt(self.what.clone(), detail)
    }

    /// Feeds more bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.hasher.update(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
    }

    /// Call at end of input: errors unless the manifest was complete.
    pub fn finish(&self) -> Result<()> {
        if self.state != DecState::Done {
            return Err(self.bad("truncated manifest"));
        }
        if self.pos != self.buf.len() {
            return Err(self.bad("trailing bytes after manifest"));
        }
        Ok(())
    }

    /// Decodes the next event from buffered input.
    pub fn next_event(&mut self) -> Result<ManifestEvent> {
        match self.state {
            DecState::Header => self.read_header(),
            DecState::Chunks => self.read_chunk(),
            DecState::Footer => self.read_footer(),
            DecState::Done => {
                if self.pos != self.buf.len() {
                    return Err(self.bad("trailing bytes after manifest"));
                }
                Ok(ManifestEvent::NeedMore)
            }
        }
    }

    fn read_header(&mut self) -> Result<ManifestEvent> {
        let a = self.avail();
        if a.len() < 13 {
            return Ok(ManifestEvent::NeedMore);
        }
        if &a[..8] != MANIFEST_MAGIC {
            return Err(self.bad("bad manifest magic"));
        }
        let version = a[8];
        if !(1..=MANIFEST_VERSION).contains(&version) {
            return Err(self.bad(format!("unsupported manifest version {version}")));
        }
        let hlen = le32(&a[9..13]);
        if hlen > MAX_HEADER_LEN {
            return Err(self.bad("manifest header too long"));
        }
        let total = 13 + hlen as usize;
        if a.len() < total {
            return Ok(ManifestEvent::NeedMore);
        }
        let header = parse_header(&a[13..total]).ok_or_else(|| self.bad("malformed header"))?;
        if header.block_size == 0 {
            return Err(self.bad("block size 0"));
        }
        self.consume(total);
        self.version = version;
        self.header = Some(header.clone());
        self.state = DecState::Chunks;
        Ok(ManifestEvent::Header(header))
    }

    fn read_chunk(&mut self) -> Result<ManifestEvent> {
        let a = self.avail();
        if a.len() < 4 {
            return Ok(ManifestEvent::NeedMore);
        }
        let count = le32(&a[..4]);
        let expected = self.header.as_ref().map(|h| h.block_count()).unwrap_or(0);
        if count == 0 {
            if self.seen != expected {
                return Err(self.bad(format!("{} entries, header implies {expected}", self.seen)));
            }
            self.consume(4);
            self.state = DecState::Footer;
            return self.read_footer();
        }
        if a.len() < 8 {
            return Ok(ManifestEvent::NeedMore);
        }
        let clen = le32(&a[4..8]) as usize;
        if count > MAX_CHUNK_ENTRIES || clen > (MAX_CHUNK_ENTRIES as usize) * MAX_ENTRY_LEN {
            return Err(self.bad("chunk too large"));
        }
        if self.seen + count as u64 > expected {
            return Err(self.bad("more entries than the volume has blocks"));
        }
        if a.len() < 8 + clen {
            return Ok(ManifestEvent::NeedMore);
        }
        let cap = count as usize * MAX_ENTRY_LEN;
        let start = self.pos + 8;
        let raw = self
            .decompressor
            .decompress(&self.buf[start..start + clen], cap)
            .map_err(|e| EngineError::corrupt(self.what.clone(), format!("chunk zstd: {e}")))?;
        let entries = self.parse_entries(&raw, count)?;
        self.consume(8 + clen);
        Ok(ManifestEvent::Entries(entries))
    }

    fn parse_entries(&mut self, raw: &[u8], count: u32) -> Result<Vec<ManifestEntry>> {
        let Some(header) = self.header.clone() else {
            return Err(self.bad("entries before header"));
        };
        let mut out = Vec::with_capacity(count as usize);
        let mut p = 0usize;
        for _ in 0..count {
            let tag = *raw.get(p).ok_or_else(|| self.bad("chunk shorter than its count"))?;
            p += 1;
            match tag {
                0 => out.push(None),
                1 | 2 => {
                    if tag == 2 && self.version < 2 {
                        return Err(self.bad("checksummed entry in a version 1 manifest"));
                    }
                    let e =
                        raw.get(p..p + REF_LEN).ok_or_else(|| self.bad("chunk shorter than its count"))?;
                    p += REF_LEN;
                    let check = if tag == 2 {
                        let c = raw.get(p..p + 8).ok_or_else(|| self.bad("chunk shorter than its count"))?;
                        p += 8;
                        Some(le64(c))
                    } else {
                        None
                    };
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(&e[..32]);
                    let r = BlockRef {
                        hash,
                        pack: PackId::from_bytes(&e[32..48]),
                        index: le32(&e[48..52]),
                        offset: le32(&e[52..56]),
                        stored_len: le32(&e[56..60]),
                        raw_len: le32(&e[60..64]),
                        codec: Codec::from_byte(e[64]).ok_or_else(|| self.bad("unknown codec"))?,
                        check,
                    };
                    let expect = header.raw_len_of(self.seen + out.len() as u64);
                    if r.raw_len != expect {
                        return Err(self.bad(format!("block raw length {} != {expect}", r.raw_len)));
                    }
                    if (r.offset as usize) < PACK_HEADER_LEN {
                        return Err(self.bad("block offset inside pack header"));
                    }
                    out.push(Some(r));
                }
                t => return Err(self.bad(format!("unknown entry tag {t}"))),
            }
        }
        if p != raw.len() {
            return Err(self.bad("chunk longer than its count"));
        }
        self.seen += count as u64;
        Ok(out)
    }

    fn read_footer(&mut self) -> Result<ManifestEvent> {
        let a = self.avail();
        if a.len() < FOOTER_LEN + 32 {
            return Ok(ManifestEvent::NeedMore);
        }
        let footer = ManifestFooter::from_bytes(a);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&a[FOOTER_LEN..FOOTER_LEN + 32]);
        self.consume(FOOTER_LEN);
        if self.hasher.finalize().as_bytes() != &digest {
            return Err(self.bad("manifest checksum mismatch"));
        }
        self.pos += 32;
        self.state = DecState::Done;
        Ok(ManifestEvent::Footer(footer))
    }
}

fn parse_header(b: &[u8]) -> Option<ManifestHeader> {
    struct Cur<'a>(&'a [u8]);
    impl<'a> Cur<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (h, t) = self.0.split_at(n);
            self.0 = t;
            Some(h)
        }
        fn string(&mut self) -> Option<String> {
            let n = le32(self.take(4)?) as usize;
            String::from_utf8(self.take(n)?.to_vec()).ok()
        }
    }
    let mut c = Cur(b);
    let block_size = le32(c.take(4)?);
    let volume_len = le64(c.take(8)?);
    let created_unix = le64(c.take(8)?);
    let project = c.string()?;
    let backup_id = c.string()?;
    let parent = match c.take(1)?[0] {
        0 => None,
        1 => Some(c.string()?),
        _ => return None,
    };
    if !c.0.is_empty() {
        return None;
    }
    Some(ManifestHeader { project, backup_id, parent, block_size, volume_len, created_unix })
}

/// Parses just the header from the first bytes of a manifest.
pub fn parse_manifest_head(what: &str, head: &[u8]) -> Result<ManifestHeader> {
    let mut d = ManifestDecoder::new(what)?;
    d.push(head);
    match d.next_event()? {
        ManifestEvent::Header(h) => Ok(h),
        _ => Err(EngineError::corrupt(what, "manifest header incomplete")),
    }
}

/// Decodes a whole in-memory manifest (tests).
#[cfg(test)]
pub fn decode_manifest_bytes(
    what: &str,
    data: &[u8],
) -> Result<(ManifestHeader, Vec<ManifestEntry>, ManifestFooter)> {
    let mut d = ManifestDecoder::new(what)?;
    d.push(data);
    let mut header = None;
    let mut entries = Vec::new();
    loop {
        match d.next_event()? {
            ManifestEvent::NeedMore => break,
            ManifestEvent::Header(h) => header = Some(h),
            ManifestEvent::Entries(e) => entries.extend(e),
            ManifestEvent::Footer(f) => {
                d.finish()?;
                let h = header.ok_or_else(|| EngineError::corrupt(what, "no header"))?;
                return Ok((h, entries, f));
            }
        }
    }
    Err(EngineError::corrupt(what, "truncated manifest"))
}

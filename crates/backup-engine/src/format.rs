//! Binary formats of packs and manifests (format version 1).
//!
//! Both formats are self-describing (magic + version byte) and checksummed so that corruption
//! is reported as [`EngineError::Corrupt`] rather than restored silently, and so that a future
//! version can be recognised. All integers are little-endian.
//!
//! The decoders here are synchronous and push-based (bytes in, structures out): the async
//! layer feeds them from object-store streams, and the property tests feed them directly.

use crate::error::{EngineError, Result};

/// Pack format version written by this crate.
pub const FORMAT_VERSION: u8 = 1;
/// Manifest format version written by this crate. Version 2 adds an XXH3-64 checksum of the
/// plaintext to block entries; version 1 manifests (no checksums) are still read.
pub const MANIFEST_VERSION: u8 = 2;

const PACK_MAGIC: &[u8; 8] = b"VBSPACK1";
const PACK_TRAILER_MAGIC: &[u8; 8] = b"VBSPIDX1";
const MANIFEST_MAGIC: &[u8; 8] = b"VBSMANI1";

/// Size of the fixed pack header.
pub const PACK_HEADER_LEN: usize = 32;
/// Size of one pack index entry.
pub const PACK_INDEX_ENTRY_LEN: usize = 32 + 4 + 4 + 4 + 1;
/// Size of the fixed pack trailer.
pub const PACK_TRAILER_LEN: usize = 8 + 4 + 32 + 8;

/// Entries per manifest chunk: ~270 KB uncompressed, so a reader holds at most that much of a
/// manifest at a time whatever the volume size.
pub const MANIFEST_CHUNK_ENTRIES: usize = 4096;
const MAX_CHUNK_ENTRIES: u32 = 1 << 20;
const REF_LEN: usize = 32 + 16 + 4 + 4 + 4 + 4 + 1;
/// Longest encoded entry: tag + reference + checksum.
const MAX_ENTRY_LEN: usize = 1 + REF_LEN + 8;
const MAX_HEADER_LEN: u32 = 64 * 1024;

/// Identifies a pack: the owner tag of the backup attempt (or GC run) that wrote it, and its
/// sequence number within that writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackId {
    /// Writer tag (one per backup attempt / GC run).
    pub owner: u64,
    /// Sequence number within the writer.
    pub seq: u64,
}

impl PackId {
    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.owner.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Self {
        Self { owner: u64::from_be_bytes(arr8(&b[..8])), seq: u64::from_be_bytes(arr8(&b[8..16])) }
    }
}

/// How a block's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is (compression did not help).
    Raw,
    /// One zstd frame.
    Zstd,
}

impl Codec {
    fn to_byte(self) -> u8 {
        match self {
            Codec::Raw => 0,
            Codec::Zstd => 1,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// Where a block lives and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// BLAKE3 of the plaintext block.
    pub hash: [u8; 32],
    /// Pack holding the block.
    pub pack: PackId,
    /// Index of the block's entry in the pack index (GC liveness bit).
    pub index: u32,
    /// Byte offset of the payload in the pack object.
    pub offset: u32,
    /// Stored (possibly compressed) length.
    pub stored_len: u32,
    /// Plaintext length.
    pub raw_len: u32,
    /// Payload encoding.
    pub codec: Codec,
    /// XXH3-64 of the plaintext block: what a restore checks (about a quarter of BLAKE3's cost
    /// here). `None` in manifests written before format version 2, and in pack-level references.
    pub check: Option<u64>,
}

/// XXH3-64 of a plaintext block, as stored in [`BlockRef::check`].
pub fn block_checksum(data: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(data)
}

/// What a decoder checks of a block's plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Nothing: only structural errors (lengths, zstd) are detected.
    None,
    /// The XXH3-64 checksum where the manifest has one, otherwise BLAKE3 (restore).
    Fast,
    /// BLAKE3 (the content address) and the checksum where present (verify, GC).
    Full,
}

/// One manifest entry per block, in offset order: `None` is an all-zero block.
pub type ManifestEntry = Option<BlockRef>;

fn arr8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

fn arr4(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    a
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes(arr4(b))
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(arr8(b))
}

// ---------------------------------------------------------------------------------------------
// Packs
// ---------------------------------------------------------------------------------------------

/// One entry of a pack index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackIndexEntry {
    /// BLAKE3 of the plaintext.
    pub hash: [u8; 32],
    /// Payload offset in the pack.
    pub offset: u32,
    /// Stored length.
    pub stored_len: u32,
    /// Plaintext length.
    pub raw_len: u32,
    /// Payload encoding.
    pub codec: Codec,
}

/// Builds one pack in memory: header, payloads, then index and trailer on [`Self::finish`].
///
/// Layout: `"VBSPACK1" | version u8 | 7 zero bytes | pack id (16) | payloads… | index
/// (45 bytes per entry: hash, offset u32, stored_len u32, raw_len u32, codec u8) | trailer
/// (index offset u64, entry count u32, BLAKE3 of the index (32), "VBSPIDX1")`. The index makes
/// a pack readable without any manifest (GC repack, forensic recovery).
#[derive(Debug)]
pub struct PackBuilder {
    id: PackId,
    buf: Vec<u8>,
    index: Vec<PackIndexEntry>,
}

impl PackBuilder {
    /// Starts a pack; `capacity` avoids regrowing the buffer.
    pub fn new(id: PackId, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(PACK_MAGIC);
        buf.push(FORMAT_VERSION);
        buf.extend_from_slice(&[0u8; 7]);
        buf.extend_from_slice(&id.to_bytes());
        Self { id, buf, index: Vec::new() }
    }

    /// Pack id.
    pub fn id(&self) -> PackId {
        self.id
    }

    /// Bytes so far (header + payloads).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when no block has been added.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Appends a payload and returns its reference.
    pub fn push(&mut self, hash: [u8; 32], codec: Codec, raw_len: u32, payload: &[u8]) -> Result<BlockRef> {
        let offset = u32::try_from(self.buf.len())
            .map_err(|_| EngineError::InvalidInput("pack larger than 4 GiB".into()))?;
        let stored_len = u32::try_from(payload.len())
            .map_err(|_| EngineError::InvalidInput("block larger than 4 GiB".into()))?;
        let index = u32::try_from(self.index.len())
            .map_err(|_| EngineError::InvalidInput("too many blocks in pack".into()))?;
        self.buf.extend_from_slice(payload);
        self.index.push(PackIndexEntry { hash, offset, stored_len, raw_len, codec });
        Ok(BlockRef { hash, pack: self.id, index, offset, stored_len, raw_len, codec, check: None })
    }

    /// Appends index and trailer and returns the finished object bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let index_offset = self.buf.len() as u64;
        let start = self.buf.len();
        for e in &self.index {
            self.buf.extend_from_slice(&e.hash);
            self.buf.extend_from_slice(&e.offset.to_le_bytes());
            self.buf.extend_from_slice(&e.stored_len.to_le_bytes());
            self.buf.extend_from_slice(&e.raw_len.to_le_bytes());
            self.buf.push(e.codec.to_byte());
        }
        let digest = blake3::hash(&self.buf[start..]);
        self.buf.extend_from_slice(&index_offset.to_le_bytes());
        self.buf.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(digest.as_bytes());
        self.buf.extend_from_slice(PACK_TRAILER_MAGIC);
        self.buf
    }
}

/// Parses a whole pack object and returns its index; checks header, trailer and index checksum.
pub fn parse_pack(what: &str, id: PackId, data: &[u8]) -> Result<Vec<PackIndexEntry>> {
    let bad = |d: &str| EngineError::corrupt(what, d);
    if data.len() < PACK_HEADER_LEN + PACK_TRAILER_LEN {
        return Err(bad("pack too short"));
    }
    if &data[..8] != PACK_MAGIC {
        return Err(bad("bad pack magic"));
    }
    if data[8] != FORMAT_VERSION {
        return Err(bad(&format!("unsupported pack version {}", data[8])));
    }
    if PackId::from_bytes(&data[16..32]) != id {
        return Err(bad("pack id in header does not match its key"));
    }
    let t = &data[data.len() - PACK_TRAILER_LEN..];
    if &t[44..52] != PACK_TRAILER_MAGIC {
        return Err(bad("bad pack trailer magic"));
    }
    let index_offset = le64(&t[..8]);
    let count = le32(&t[8..12]) as usize;
    let index_end = (data.len() - PACK_TRAILER_LEN) as u64;
    let expected = count
        .checked_mul(PACK_INDEX_ENTRY_LEN)
        .map(|n| n as u64)
        .ok_or_else(|| bad("index size overflow"))?;
    if index_offset < PACK_HEADER_LEN as u64 || index_end.checked_sub(index_offset) != Some(expected) {
        return Err(bad("index bounds do not match trailer"));
    }
    let index = &data[index_offset as usize..index_end as usize];
    if blake3::hash(index).as_bytes() != &t[12..44] {
        return Err(bad("pack index checksum mismatch"));
    }
    let mut out = Vec::with_capacity(count);
    for e in index.chunks_exact(PACK_INDEX_ENTRY_LEN) {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&e[..32]);
        let entry = PackIndexEntry {
            hash,
            offset: le32(&e[32..36]),
            stored_len: le32(&e[36..40]),
            raw_len: le32(&e[40..44]),
            codec: Codec::from_byte(e[44]).ok_or_else(|| bad("unknown codec"))?,
        };
        let end = entry.offset as u64 + entry.stored_len as u64;
        if (entry.offset as usize) < PACK_HEADER_LEN || end > index_offset {
            return Err(bad("index entry outside payload area"));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Decodes one stored payload into `out` (cleared first) and checks it as `check` says.
pub fn decode_block(
    decompressor: &mut zstd::bulk::Decompressor<'_>,
    r: &BlockRef,
    payload: &[u8],
    out: &mut Vec<u8>,
    check: Check,
) -> std::result::Result<(), String> {
    out.clear();
    out.resize(r.raw_len as usize, 0);
    decode_block_into(decompressor, r, payload, out, check)
}

/// Checks a block's plaintext against its reference.
pub fn check_block(r: &BlockRef, plain: &[u8], check: Check) -> std::result::Result<(), String> {
    if check == Check::None {
        return Ok(());
    }
    // Fast checks BLAKE3 only where the manifest has no checksum; Full always does.
    if (check == Check::Full || r.check.is_none()) && blake3::hash(plain).as_bytes() != &r.hash {
        return Err("BLAKE3 mismatch".into());
    }
    match r.check {
        Some(c) if block_checksum(plain) != c => Err("XXH3 checksum mismatch".into()),
        _ => Ok(()),
    }
}

/// Decodes one stored payload into `out`, which must be exactly `raw_len` long (restore
/// decodes straight into its write buffer, saving a copy).
pub fn decode_block_into(
    decompressor: &mut zstd::bulk::Decompressor<'_>,
    r: &BlockRef,
    payload: &[u8],
    out: &mut [u8],
    check: Check,
) -> std::result::Result<(), String> {
    if payload.len() != r.stored_len as usize {
        return Err(format!("payload length {} != {}", payload.len(), r.stored_len));
    }
    if out.len() != r.raw_len as usize {
        return Err(format!("buffer length {} != {}", out.len(), r.raw_len));
    }
    match r.codec {
        Codec::Raw => {
            if payload.len() != out.len() {
                return Err("raw block length mismatch".into());
            }
            out.copy_from_slice(payload);
        }
        Codec::Zstd => {
            let n = decompressor.decompress_to_buffer(payload, out).map_err(|e| format!("zstd: {e}"))?;
            if n != out.len() {
                return Err(format!("decoded length {n} != {}", r.raw_len));
            }
        }
    }
    check_block(r, out, check)
}

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

/// Static facts written at the start of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHeader {
    /// Project the backup belongs to (checked on read).
    pub project: String,
    /// Backup id.
    pub backup_id: String,
    /// Parent backup id, if incremental.
    pub parent: Option<String>,
    /// Block size used for this backup.
    pub block_size: u32,
    /// Volume length in bytes.
    pub volume_len: u64,
    /// Creation time, Unix seconds.
    pub created_unix: u64,
}

impl ManifestHeader {
    /// Number of entries a manifest with this header must contain.
    pub fn block_count(&self) -> u64 {
        self.volume_len.div_ceil(self.block_size.max(1) as u64)
    }

    /// Plaintext length of block `i`.
    pub fn raw_len_of(&self, i: u64) -> u32 {
        let start = i * self.block_size as u64;
        (self.volume_len - start).min(self.block_size as u64) as u32
    }
}

/// Counters written at the end of a manifest (they are only known then).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManifestFooter {
    /// Blocks in the volume.
    pub blocks_total: u64,
    /// All-zero blocks.
    pub blocks_zero: u64,
    /// Blocks referencing data that was already stored.
    pub blocks_reused: u64,
    /// Blocks written by this backup.
    pub blocks_new: u64,
    /// Compressed payload bytes written by this backup.
    pub payload_bytes: u64,
    /// Bytes of pack objects written by this backup.
    pub pack_bytes: u64,
    /// Pack objects written by this backup.
    pub packs_written: u64,
}

const FOOTER_LEN: usize = 7 * 8;

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

/// Streaming manifest encoder.
///
/// Layout: `"VBSMANI1" | version u8 | header_len u32 | header | chunks… | end (u32 0) |
/// footer (7 × u64) | BLAKE3 of everything before (32)`. Header: block_size u32, volume_len
/// u64, created u64, project, backup id, has_parent u8, parent (strings are u32 length +
/// UTF-8). A chunk is `entry_count u32 | compressed_len u32 | zstd frame (with checksum)` of
/// entries; an entry is `0` (zero block), `1` + hash(32) + pack id(16) + index, offset,
/// stored_len, raw_len (u32 each) + codec(u8), or (version 2) `2` + the same + the XXH3-64 of
/// the plaintext (u64).
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
        for v in [
            footer.blocks_total,
            footer.blocks_zero,
            footer.blocks_reused,
            footer.blocks_new,
            footer.payload_bytes,
            footer.pack_bytes,
            footer.packs_written,
        ] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        self.emit(&f);
        let digest = self.hasher.finalize();
        self.out.extend_from_slice(digest.as_bytes());
        Ok(self.out)
    }
}

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
        let v: Vec<u64> = a[..FOOTER_LEN].chunks_exact(8).map(le64).collect();
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&a[FOOTER_LEN..FOOTER_LEN + 32]);
        self.consume(FOOTER_LEN);
        if self.hasher.finalize().as_bytes() != &digest {
            return Err(self.bad("manifest checksum mismatch"));
        }
        self.pos += 32;
        self.state = DecState::Done;
        Ok(ManifestEvent::Footer(ManifestFooter {
            blocks_total: v[0],
            blocks_zero: v[1],
            blocks_reused: v[2],
            blocks_new: v[3],
            payload_bytes: v[4],
            pack_bytes: v[5],
            packs_written: v[6],
        }))
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

/// Bytes at the end of a manifest holding the footer and checksum.
pub const MANIFEST_TAIL_LEN: usize = FOOTER_LEN + 32;

/// Reads the footer from the last [`MANIFEST_TAIL_LEN`] bytes of a manifest, without checking
/// the whole-object checksum (listing only; restore and verify stream the whole manifest).
pub fn parse_manifest_tail(tail: &[u8]) -> Option<ManifestFooter> {
    if tail.len() != MANIFEST_TAIL_LEN {
        return None;
    }
    let v: Vec<u64> = tail[..FOOTER_LEN].chunks_exact(8).map(le64).collect();
    Some(ManifestFooter {
        blocks_total: v[0],
        blocks_zero: v[1],
        blocks_reused: v[2],
        blocks_new: v[3],
        payload_bytes: v[4],
        pack_bytes: v[5],
        packs_written: v[6],
    })
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

/// Re-encodes a manifest the way format version 1 wrote it (no checksums), for tests of
/// backups written before version 2.
#[cfg(test)]
pub(crate) fn reencode_as_version_1(data: &[u8]) -> Result<Vec<u8>> {
    let (h, entries, f) = decode_manifest_bytes("manifest", data)?;
    let mut enc = ManifestEncoder::new(&h)?;
    let mut out = Vec::new();
    for e in entries {
        enc.push(&e.map(|r| BlockRef { check: None, ..r }))?;
        out.extend(enc.take_output());
    }
    out.extend(enc.finish(&f)?);
    out[8] = 1;
    let n = out.len() - 32;
    let digest = *blake3::hash(&out[..n]).as_bytes();
    out[n..].copy_from_slice(&digest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(h: &ManifestHeader, entries: &[ManifestEntry], f: &ManifestFooter) -> Vec<u8> {
        let mut enc = ManifestEncoder::new(h).expect("encoder");
        let mut out = Vec::new();
        for e in entries {
            enc.push(e).expect("push");
            out.extend(enc.take_output());
        }
        out.extend(enc.finish(f).expect("finish"));
        out
    }

    fn arb_entries(n: usize, block: u32, vol: u64) -> impl Strategy<Value = Vec<ManifestEntry>> {
        let h = ManifestHeader {
            project: String::new(),
            backup_id: String::new(),
            parent: None,
            block_size: block,
            volume_len: vol,
            created_unix: 0,
        };
        proptest::collection::vec(
            proptest::option::of((
                any::<[u8; 32]>(),
                any::<u64>(),
                any::<u64>(),
                any::<u32>(),
                32u32..,
                any::<u32>(),
                any::<bool>(),
                any::<Option<u64>>(),
            )),
            n,
        )
        .prop_map(move |v| {
            v.into_iter()
                .enumerate()
                .map(|(i, o)| {
                    o.map(|(hash, owner, seq, index, offset, stored_len, z, check)| BlockRef {
                        hash,
                        pack: PackId { owner, seq },
                        index,
                        offset,
                        stored_len,
                        raw_len: h.raw_len_of(i as u64),
                        codec: if z { Codec::Zstd } else { Codec::Raw },
                        check,
                    })
                })
                .collect()
        })
    }

    fn arb_manifest() -> impl Strategy<Value = (ManifestHeader, Vec<ManifestEntry>, ManifestFooter)> {
        (
            1u32..=4096,
            0u64..=20_000,
            "[a-z0-9-]{1,20}",
            proptest::option::of("[a-z0-9-]{1,36}"),
            any::<[u64; 7]>(),
        )
            .prop_flat_map(|(block, units, id, parent, f)| {
                let vol = units * 7 + (units % 5);
                let h = ManifestHeader {
                    project: "p1".into(),
                    backup_id: id,
                    parent,
                    block_size: block,
                    volume_len: vol,
                    created_unix: 1_700_000_000,
                };
                let n = h.block_count() as usize;
                let footer = ManifestFooter {
                    blocks_total: f[0],
                    blocks_zero: f[1],
                    blocks_reused: f[2],
                    blocks_new: f[3],
                    payload_bytes: f[4],
                    pack_bytes: f[5],
                    packs_written: f[6],
                };
                (Just(h), arb_entries(n, block, vol), Just(footer))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn manifest_round_trip((h, entries, f) in arb_manifest(), split in 1usize..5000) {
            let bytes = encode(&h, &entries, &f);
            // Whole-buffer decode.
            let (h2, e2, f2) = decode_manifest_bytes("m", &bytes).expect("decode");
            prop_assert_eq!(&h2, &h);
            prop_assert_eq!(&e2, &entries);
            prop_assert_eq!(f2, f);
            // Streamed decode in arbitrary pieces gives the same.
            let mut d = ManifestDecoder::new("m").expect("dec");
            let mut got = Vec::new();
            let mut footer = None;
            for piece in bytes.chunks(split) {
                d.push(piece);
                loop {
                    match d.next_event().expect("event") {
                        ManifestEvent::NeedMore => break,
                        ManifestEvent::Header(_) => {}
                        ManifestEvent::Entries(e) => got.extend(e),
                        ManifestEvent::Footer(f) => footer = Some(f),
                    }
                }
            }
            d.finish().expect("complete");
            prop_assert_eq!(got, entries);
            prop_assert_eq!(footer, Some(f));
        }

        #[test]
        fn corrupt_manifest_is_an_error_not_a_panic(
            (h, entries, f) in arb_manifest(), pos in any::<usize>(), bit in 0u8..8
        ) {
            let mut bytes = encode(&h, &entries, &f);
            let i = pos % bytes.len();
            bytes[i] ^= 1 << bit;
            prop_assert!(decode_manifest_bytes("m", &bytes).is_err());
            // Truncation too.
            prop_assert!(decode_manifest_bytes("m", &bytes[..i]).is_err());
        }

        #[test]
        fn pack_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_pack("p", PackId { owner: 1, seq: 2 }, &data);
        }
    }

    #[test]
    fn pack_round_trip() -> Result<()> {
        let id = PackId { owner: 9, seq: 1 };
        let mut b = PackBuilder::new(id, 1024);
        let r1 = b.push([1; 32], Codec::Raw, 3, b"abc")?;
        let r2 = b.push([2; 32], Codec::Zstd, 10, b"zz")?;
        let bytes = b.finish();
        let idx = parse_pack("p", id, &bytes)?;
        assert_eq!(idx.len(), 2);
        assert_eq!((idx[0].offset, idx[0].stored_len), (r1.offset, r1.stored_len));
        assert_eq!(idx[1].hash, r2.hash);
        assert_eq!(&bytes[r1.offset as usize..][..3], b"abc");
        assert!(parse_pack("p", PackId { owner: 9, seq: 2 }, &bytes).is_err());
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - PACK_TRAILER_LEN - 1] ^= 1;
        assert!(parse_pack("p", id, &bad).is_err());
        Ok(())
    }

    /// A manifest as format version 1 wrote it: version byte 1, trailing BLAKE3 over the rest.
    fn as_version_1(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes[8] = 1;
        let n = bytes.len() - 32;
        let digest = *blake3::hash(&bytes[..n]).as_bytes();
        bytes[n..].copy_from_slice(&digest);
        bytes
    }

    fn small_manifest(check: Option<u64>) -> (ManifestHeader, Vec<ManifestEntry>) {
        let h = ManifestHeader {
            project: "p1".into(),
            backup_id: "b1".into(),
            parent: None,
            block_size: 4,
            volume_len: 10,
            created_unix: 1,
        };
        let r = |i: u32, raw_len: u32| BlockRef {
            hash: [i as u8; 32],
            pack: PackId { owner: 1, seq: 2 },
            index: i,
            offset: 64 + i,
            stored_len: raw_len,
            raw_len,
            codec: Codec::Raw,
            check,
        };
        (h, vec![Some(r(0, 4)), None, Some(r(2, 2))])
    }

    #[test]
    fn version_1_manifests_still_decode() -> Result<()> {
        let (h, entries) = small_manifest(Some(7));
        let v2 = encode(&h, &entries, &ManifestFooter::default());
        assert_eq!(v2[8], MANIFEST_VERSION);
        let v1 = reencode_as_version_1(&v2)?;
        assert_eq!(v1[8], 1);
        let (h1, e1, _) = decode_manifest_bytes("m", &v1)?;
        let (_, unchecked) = small_manifest(None);
        assert_eq!((h1, e1), (h, unchecked));
        // A checksummed entry cannot appear in a version 1 manifest.
        let (h, entries) = small_manifest(Some(7));
        let v1 = as_version_1(encode(&h, &entries, &ManifestFooter::default()));
        let err = decode_manifest_bytes("m", &v1).expect_err("tag 2 in version 1");
        assert!(err.to_string().contains("version 1"), "{err}");
        Ok(())
    }

    #[test]
    fn block_checksum_is_standard_xxh3_64() {
        // Reference values of XXH3-64 with seed 0 (the manifest format depends on them).
        assert_eq!(block_checksum(b""), 0x2D06_8005_38D3_94C2);
        let long: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(block_checksum(&long), block_checksum(&long.clone()));
        assert_ne!(block_checksum(&long), block_checksum(&long[1..]));
    }

    #[test]
    fn checks_catch_what_they_cover() {
        let plain = b"some block data".to_vec();
        let good = BlockRef {
            hash: *blake3::hash(&plain).as_bytes(),
            pack: PackId { owner: 1, seq: 1 },
            index: 0,
            offset: 32,
            stored_len: plain.len() as u32,
            raw_len: plain.len() as u32,
            codec: Codec::Raw,
            check: Some(block_checksum(&plain)),
        };
        let mut damaged = plain.clone();
        damaged[3] ^= 0x10;
        for mode in [Check::Fast, Check::Full] {
            assert_eq!(check_block(&good, &plain, mode), Ok(()));
            assert!(check_block(&good, &damaged, mode).is_err(), "{mode:?}");
        }
        assert_eq!(check_block(&good, &damaged, Check::None), Ok(()));
        // Fast trusts the checksum, Full also the content address.
        let wrong_hash = BlockRef { hash: [0; 32], ..good };
        assert_eq!(check_block(&wrong_hash, &plain, Check::Fast), Ok(()));
        assert_eq!(check_block(&wrong_hash, &plain, Check::Full), Err("BLAKE3 mismatch".into()));
        // Without a checksum (version 1), Fast falls back to BLAKE3.
        let v1 = BlockRef { check: None, ..good };
        assert_eq!(check_block(&v1, &damaged, Check::Fast), Err("BLAKE3 mismatch".into()));
        let wrong_sum = BlockRef { check: Some(1), ..good };
        assert_eq!(check_block(&wrong_sum, &plain, Check::Full), Err("XXH3 checksum mismatch".into()));
    }
}

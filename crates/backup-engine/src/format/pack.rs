//! Pack objects: block payloads written back to back, then an index of them and a trailer
//! locating the index. A backup or a GC repack fills one in memory ([`PackBuilder`]) and
//! uploads it whole; [`parse_pack`] reads the index back.

use super::block::{BlockRef, Codec};
use super::{FORMAT_VERSION, arr8, le32, le64};
use crate::error::{EngineError, Result};

const PACK_MAGIC: &[u8; 8] = b"VBSPACK1";
const PACK_TRAILER_MAGIC: &[u8; 8] = b"VBSPIDX1";

/// Size of the fixed pack header.
pub const PACK_HEADER_LEN: usize = 32;
/// Size of one pack index entry.
pub const PACK_INDEX_ENTRY_LEN: usize = 32 + 4 + 4 + 4 + 1;
/// Size of the fixed pack trailer.
pub const PACK_TRAILER_LEN: usize = 8 + 4 + 32 + 8;

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
    pub(super) fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.owner.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub(super) fn from_bytes(b: &[u8]) -> Self {
        Self { owner: u64::from_be_bytes(arr8(&b[..8])), seq: u64::from_be_bytes(arr8(&b[8..16])) }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
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
}

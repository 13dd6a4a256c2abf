//! Manifests: one per backup, one entry per block of the volume in offset order.
//!
//! Layout: `"VBSMANI1" | version u8 | header_len u32 | header | chunks… | end (u32 0) |
//! footer (7 × u64) | BLAKE3 of everything before (32)`. Header: block_size u32, volume_len
//! u64, created u64, project, backup id, has_parent u8, parent (strings are u32 length +
//! UTF-8). A chunk is `entry_count u32 | compressed_len u32 | zstd frame (with checksum)` of
//! entries; an entry is `0` (zero block), `1` + hash(32) + pack id(16) + index, offset,
//! stored_len, raw_len (u32 each) + codec(u8), or (version 2) `2` + the same + the XXH3-64 of
//! the plaintext (u64).
//!
//! Chunks keep a manifest streamable both ways: [`ManifestEncoder`] and [`ManifestDecoder`]
//! hold one chunk at a time whatever the volume size. The footer's counters are only known
//! once the volume has been read, hence at the end; [`parse_manifest_head`] and
//! [`parse_manifest_tail`] read header and footer alone for listings.

mod decoder;
mod encoder;

#[cfg(test)]
use decoder::decode_manifest_bytes;
pub use decoder::{ManifestDecoder, ManifestEvent, parse_manifest_head};
pub use encoder::ManifestEncoder;

use super::block::BlockRef;
use super::le64;
#[cfg(test)]
use crate::error::Result;

const MANIFEST_MAGIC: &[u8; 8] = b"VBSMANI1";

/// Entries per manifest chunk: ~270 KB uncompressed, so a reader holds at most that much of a
/// manifest at a time whatever the volume size.
pub const MANIFEST_CHUNK_ENTRIES: usize = 4096;
const MAX_CHUNK_ENTRIES: u32 = 1 << 20;
const REF_LEN: usize = 32 + 16 + 4 + 4 + 4 + 4 + 1;
/// Longest encoded entry: tag + reference + checksum.
const MAX_ENTRY_LEN: usize = 1 + REF_LEN + 8;
const MAX_HEADER_LEN: u32 = 64 * 1024;
const FOOTER_LEN: usize = 7 * 8;

/// Bytes at the end of a manifest holding the footer and checksum.
pub const MANIFEST_TAIL_LEN: usize = FOOTER_LEN + 32;

/// One manifest entry per block, in offset order: `None` is an all-zero block.
pub type ManifestEntry = Option<BlockRef>;

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

impl ManifestFooter {
    /// The counters in their on-store order.
    fn to_words(self) -> [u64; 7] {
        [
            self.blocks_total,
            self.blocks_zero,
            self.blocks_reused,
            self.blocks_new,
            self.payload_bytes,
            self.pack_bytes,
            self.packs_written,
        ]
    }

    /// Inverse of [`Self::to_words`] on the encoded footer (`b` is at least [`FOOTER_LEN`]).
    fn from_bytes(b: &[u8]) -> Self {
        let v: Vec<u64> = b[..FOOTER_LEN].chunks_exact(8).map(le64).collect();
        Self {
            blocks_total: v[0],
            blocks_zero: v[1],
            blocks_reused: v[2],
            blocks_new: v[3],
            payload_bytes: v[4],
            pack_bytes: v[5],
            packs_written: v[6],
        }
    }
}

/// Reads the footer from the last [`MANIFEST_TAIL_LEN`] bytes of a manifest, without checking
/// the whole-object checksum (listing only; restore and verify stream the whole manifest).
pub fn parse_manifest_tail(tail: &[u8]) -> Option<ManifestFooter> {
    if tail.len() != MANIFEST_TAIL_LEN {
        return None;
    }
    Some(ManifestFooter::from_bytes(tail))
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
    use proptest::prelude::*;

    use super::*;
    use crate::format::{Codec, MANIFEST_VERSION, PackId};

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
}

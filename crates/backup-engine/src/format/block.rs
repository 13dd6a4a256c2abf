//! Blocks: where one lives ([`BlockRef`]), how its payload is encoded ([`Codec`]), and what
//! is checked of its plaintext when it is read back ([`Check`]).
//!
//! A block is addressed by the BLAKE3 of its plaintext; manifests since format version 2 also
//! carry its XXH3-64, which a restore checks instead (about a quarter of BLAKE3's cost here).

use super::pack::PackId;

/// How a block's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is (compression did not help).
    Raw,
    /// One zstd frame.
    Zstd,
}

impl Codec {
    pub(super) fn to_byte(self) -> u8 {
        match self {
            Codec::Raw => 0,
            Codec::Zstd => 1,
        }
    }

    pub(super) fn from_byte(b: u8) -> Option<Self> {
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

#[cfg(test)]
mod tests {
    use super::*;

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

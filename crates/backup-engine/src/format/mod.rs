//! Binary formats of the objects the engine stores: packs (format version 1) and manifests
//! (format version 2; version 1 is still read). One submodule per object kind, plus the block
//! codec both of them describe:
//!
//! * [`pack`]: pack objects, a run of block payloads followed by their index;
//! * [`block`]: a block's reference, its payload encoding and the checks of its plaintext;
//! * [`manifest`]: a backup's manifest, one entry per block of the volume.
//!
//! Both formats are self-describing (magic + version byte) and checksummed so that corruption
//! is reported as [`EngineError::Corrupt`](crate::EngineError::Corrupt) rather than restored
//! silently, and so that a future version can be recognised. All integers are little-endian.
//!
//! The decoders here are synchronous and push-based (bytes in, structures out): the async
//! layer feeds them from object-store streams, and the property tests feed them directly.

mod block;
mod manifest;
mod pack;

pub use block::{BlockRef, Check, Codec, block_checksum, check_block, decode_block, decode_block_into};
#[cfg(test)]
pub(crate) use manifest::reencode_as_version_1;
pub use manifest::{
    MANIFEST_TAIL_LEN, ManifestDecoder, ManifestEncoder, ManifestEntry, ManifestEvent, ManifestFooter,
    ManifestHeader, parse_manifest_head, parse_manifest_tail,
};
pub use pack::{PACK_HEADER_LEN, PACK_INDEX_ENTRY_LEN, PACK_TRAILER_LEN, PackBuilder, PackId, parse_pack};

/// Pack format version written by this crate.
pub const FORMAT_VERSION: u8 = 1;
/// Manifest format version written by this crate. Version 2 adds an XXH3-64 checksum of the
/// plaintext to block entries; version 1 manifests (no checksums) are still read.
pub const MANIFEST_VERSION: u8 = 2;

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

//! The bytes on disk, and nothing else: the segment header and the record frame, each with a
//! CRC32C. Pure functions; no IO here.
//!
//! ```text
//! segment: [header, HEADER_BYTES] [record] [record] ... [zeros to the preallocated end]
//! header:  magic "RIOLOG\0\x01" | version u32 | header_bytes u32 | base_lsn u64 | segment_bytes u64 | crc32c u32 (of the 32 bytes before it)
//! record:  len u32 | crc32c u32 (of len, lsn, data) | lsn u64 | data [len]
//! ```
//!
//! All integers are little-endian. Records are back to back, except that a direct (O_DIRECT) log
//! leaves zeros to the next block where it was reopened or where a batch began while the one
//! before it was still being written; a reader that meets zeros where a record should be tries
//! the next block boundary for the record it expects (right LSN, right CRC), so padding never reads as data and garbage
//! never reads as a record.

/// Bytes before a segment's first record (a whole block, so O_DIRECT writes stay aligned).
pub const HEADER_BYTES: u64 = 4096;
/// Bytes of a record's frame before its data.
pub const FRAME_BYTES: usize = 16;
/// The alignment of O_DIRECT writes, and the step at which a reader looks past padding.
pub const BLOCK_BYTES: u64 = 4096;
/// The largest record: far below the 4 GiB a frame can say, so a corrupt length is recognised.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

const MAGIC: &[u8; 8] = b"RIOLOG\0\x01";
const VERSION: u32 = 1;

/// What a segment header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The LSN of the segment's first record.
    pub base_lsn: u64,
    /// The size the segment was preallocated to.
    pub segment_bytes: u64,
}

impl SegmentHeader {
    /// The header block, zero-padded to `HEADER_BYTES`.
    pub fn encode(&self) -> Vec<u8> {
        let mut block = vec![0u8; HEADER_BYTES as usize];
        block[0..8].copy_from_slice(MAGIC);
        block[8..12].copy_from_slice(&VERSION.to_le_bytes());
        block[12..16].copy_from_slice(&(HEADER_BYTES as u32).to_le_bytes());
        block[16..24].copy_from_slice(&self.base_lsn.to_le_bytes());
        block[24..32].copy_from_slice(&self.segment_bytes.to_le_bytes());
        let crc = crc32c::crc32c(&block[0..32]);
        block[32..36].copy_from_slice(&crc.to_le_bytes());
        block
    }

    /// The header in `block`, if it is one this version wrote, intact.
    pub fn decode(block: &[u8]) -> Option<SegmentHeader> {
        if block.len() < 36 || &block[0..8] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(block[32..36].try_into().ok()?);
        if crc != crc32c::crc32c(&block[0..32]) || u32::from_le_bytes(block[8..12].try_into().ok()?) != VERSION {
            return None;
        }
        Some(SegmentHeader {
            base_lsn: u64::from_le_bytes(block[16..24].try_into().ok()?),
            segment_bytes: u64::from_le_bytes(block[24..32].try_into().ok()?),
        })
    }
}

fn record_crc(len: u32, lsn: u64, data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &lsn.to_le_bytes());
    crc32c::crc32c_append(crc, data)
}

/// Appends the frame of record `lsn` holding `data` to `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: u64, data: &[u8]) {
    let len = data.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(len, lsn, data).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(data);
}

/// The bytes a record of `len` bytes takes on disk.
pub fn framed_len(len: usize) -> usize {
    FRAME_BYTES + len
}

/// The framed length of the record whose frame starts at `at` in a run of framed records.
pub fn framed_len_at(frames: &[u8], at: usize) -> usize {
    let len = u32::from_le_bytes(frames[at..at + 4].try_into().expect("a frame's length"));
    framed_len(len as usize)
}

/// How many bytes of whole records from the start of `frames` fit in `room` (at least the first
/// record), and how many records that is.
pub fn records_within(frames: &[u8], room: usize) -> (usize, u64) {
    let mut taken = 0;
    let mut count = 0;
    while taken < frames.len() {
        let next = framed_len_at(frames, taken);
        if count > 0 && taken + next > room {
            break;
        }
        taken += next;
        count += 1;
    }
    (taken, count)
}

/// What is at the start of `bytes`, read as the record that should be LSN `expected`.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The record, intact: its data and the bytes it took.
    Record { data: &'a [u8], framed: usize },
    /// Zeros: padding, or the unwritten end.
    Zeros,
    /// Anything else: a torn or corrupt record, another record's bytes, or too few bytes.
    Invalid,
}

/// Reads the record at the start of `bytes`, which must be LSN `expected` to count.
pub fn decode_record(bytes: &[u8], expected: u64) -> Frame<'_> {
    if bytes.len() < FRAME_BYTES {
        return if bytes.iter().all(|b| *b == 0) { Frame::Zeros } else { Frame::Invalid };
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let lsn = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if len == 0 && crc == 0 && lsn == 0 {
        return Frame::Zeros;
    }
    let framed = framed_len(len as usize);
    if lsn != expected || len as usize > MAX_RECORD_BYTES || bytes.len() < framed {
        return Frame::Invalid;
    }
    let data = &bytes[FRAME_BYTES..framed];
    if record_crc(len, lsn, data) != crc {
        return Frame::Invalid;
    }
    Frame::Record { data, framed }
}

/// The block boundary at or before `offset`.
pub fn align_down(offset: u64) -> u64 {
    offset / BLOCK_BYTES * BLOCK_BYTES
}

/// The next block boundary at or after `offset`.
pub fn align_up(offset: u64) -> u64 {
    offset.div_ceil(BLOCK_BYTES) * BLOCK_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_any_flipped_bit_is_caught() {
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 7, b"hello log");
        assert_eq!(decode_record(&bytes, 7), Frame::Record { data: b"hello log", framed: bytes.len() });
        assert_eq!(decode_record(&bytes, 8), Frame::Invalid, "a record is only the LSN it says");
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(decode_record(&flipped, 7), Frame::Record { data: b"hello log", framed: bytes.len() }, "bit {bit}");
        }
    }

    #[test]
    fn zeros_read_as_zeros_and_a_torn_record_as_invalid() {
        assert_eq!(decode_record(&[0u8; 64], 1), Frame::Zeros);
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 1, &[9u8; 100]);
        assert_eq!(decode_record(&bytes[..50], 1), Frame::Invalid);
    }

    #[test]
    fn a_header_round_trips_and_rejects_corruption() {
        let header = SegmentHeader { base_lsn: 1234, segment_bytes: 1 << 20 };
        let mut block = header.encode();
        assert_eq!(SegmentHeader::decode(&block), Some(header));
        block[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&block), None);
    }
}

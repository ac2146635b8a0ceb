//! The shared control block: how JS and native talk without a call per op. JS writes op
//! descriptors and counters; native reads them when it flushes (before the loop blocks) and writes
//! completions back before it calls JS once per batch. Both sides run on the same thread, one after
//! the other, so the block needs no synchronisation. These constants are the single source of the
//! layout: the TypeScript side reads them from the addon.

use napi_derive::napi;

/// Bytes of staging memory per op slot; larger ops get a buffer of their own.
#[napi]
pub const SLOT_BYTES: u32 = 64 * 1024;
/// Bytes from one slot's start to the next: a page more than a slot, so the slots' first bytes
/// (where every small op's data is) do not all fall in the same cache sets, as they would 64 KiB
/// apart. Page-aligned still, for O_DIRECT.
#[napi]
pub const SLOT_STRIDE: u32 = SLOT_BYTES + 4096;
/// Sends and receives stage their bytes `SOCKET_STAGE_STEP` × (slot mod `SOCKET_STAGE_STEPS`)
/// into their slot (inside the page the stride adds), not at its start: a slot's start is
/// page-aligned (for O_DIRECT), so the small payloads of every connection's send and receive in
/// flight would all share two L1 cache sets. Spread over 64 cache lines they took the echo
/// server's CPU per round trip down 1.5% to 5% (measured on two machines).
#[napi]
pub const SOCKET_STAGE_STEP: u32 = 64;
#[napi]
pub const SOCKET_STAGE_STEPS: u32 = 64;
const _: () = assert!(SOCKET_STAGE_STEP * (SOCKET_STAGE_STEPS - 1) + SLOT_BYTES <= SLOT_STRIDE);

/// Where in slot `slot` a send or receive stages its bytes (see `SOCKET_STAGE_STEP`).
pub fn socket_stage_offset(slot: usize) -> usize {
    (slot % SOCKET_STAGE_STEPS as usize) * SOCKET_STAGE_STEP as usize
}
/// Where in a slot a statx result goes (the path to stat is at the start).
#[napi]
pub const STATX_OFFSET: u32 = 8192;
/// Int32 entries in the header.
#[napi]
pub const HEADER_INTS: u32 = 16;
/// Float64 fields per op descriptor.
#[napi]
pub const DESCRIPTOR_FIELDS: u32 = 8;

/// Int32 entries per completion: slot, result, CQE flags.
#[napi]
pub const COMPLETION_INTS: u32 = 3;
/// Bytes of each provided buffer multishot receives fill.
#[napi]
pub const PROVIDED_BUFFER_BYTES: u32 = 16 * 1024;
/// Provided buffers per ring (a power of two): receipts not yet handed to JS each hold one.
pub const PROVIDED_BUFFERS: u16 = 512;

/// Header: descriptors JS has queued since the last flush (native resets it).
#[napi]
pub const H_QUEUED: u32 = 0;
/// Header: ops JS has started and not yet settled (native unrefs the loop when it is 0).
#[napi]
pub const H_IN_FLIGHT: u32 = 1;
/// Header: 1 while the ring holds the event loop open (JS calls `ref()` when it is 0).
#[napi]
pub const H_REFED: u32 = 2;

/// Descriptor fields.
#[napi]
pub const D_OP: u32 = 0;
/// Descriptor field: the op's slot (its staging memory and completion tag).
#[napi]
pub const D_SLOT: u32 = 1;
/// Descriptor field: the file descriptor.
#[napi]
pub const D_FD: u32 = 2;
/// Descriptor field: the byte count.
#[napi]
pub const D_LEN: u32 = 3;
/// -1: the file's current position.
#[napi]
pub const D_POSITION: u32 = 4;
/// Descriptor field: the `Ordering`.
#[napi]
pub const D_ORDERING: u32 = 5;
/// Descriptor field: the op's first own argument (flags, mode, ...).
#[napi]
pub const D_ARG_A: u32 = 6;
/// Descriptor field: the op's second own argument.
#[napi]
pub const D_ARG_B: u32 = 7;

/// Byte offset of the descriptor array in the control block.
pub const DESCRIPTORS_OFFSET: usize = HEADER_INTS as usize * 4;

/// Byte size of the control block for `slots` slots.
pub fn control_block_bytes(slots: usize) -> usize {
    DESCRIPTORS_OFFSET + slots * DESCRIPTOR_FIELDS as usize * 8 + slots * COMPLETION_INTS as usize * 4
}

/// Byte offset of the completion array ([slot, result, flags] triples) for `slots` slots.
pub fn completions_offset(slots: usize) -> usize {
    DESCRIPTORS_OFFSET + slots * DESCRIPTOR_FIELDS as usize * 8
}

/// Op codes of descriptors. Data lives in the op's slot (or its big buffer): read and recv targets,
/// write and send sources, NUL-terminated paths, the statx result, socket addresses.
#[napi]
pub enum OpCode {
    Nop = 0,
    /// fd, len, position.
    Read = 1,
    /// fd, len, position.
    Write = 2,
    /// fd; a = 1 for fdatasync.
    Fsync = 3,
    /// fd, position, len, a = flags.
    SyncFileRange = 4,
    /// fd, position, len, a = mode.
    Fallocate = 5,
    /// path in the slot; a = flags, b = mode.
    Open = 6,
    /// fd.
    Close = 7,
    /// path in the slot (empty: the fd); a = flags, b = mask.
    Statx = 8,
    /// path; a = flags.
    Unlink = 9,
    /// old path at 0, new path at b; a = flags.
    Rename = 10,
    /// path; a = mode.
    Mkdir = 11,
    /// fd; peer address written at 0 (128 bytes), its length at 128.
    Accept = 12,
    /// fd; address at 0, len = its length.
    Connect = 13,
    /// fd, len; a = flags, b = where the bytes start in the slot.
    Send = 14,
    /// fd, len; a = flags.
    Recv = 15,
    /// fd; a = how.
    Shutdown = 16,
    /// a = milliseconds.
    Timeout = 17,
    /// existing path at 0, new path at b; a = flags.
    Link = 18,
    /// target at 0, link path at b.
    Symlink = 19,
    /// fd, position = the new length.
    Ftruncate = 20,
    /// fd (a listening socket): one completion (an fd, CQE flag MORE) per connection.
    AcceptMulti = 21,
    /// fd; a = flags: one completion per receipt, its bytes in the provided buffer the CQE flags
    /// name (`flags >> 16`), until one without MORE.
    RecvMulti = 22,
}

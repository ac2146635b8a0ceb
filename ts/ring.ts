/**
 * `Ring`: io_uring from JavaScript. One method per op of the Rust ring, each returning a Promise.
 *
 * How an op travels, with no call into native code per op: the method checks its arguments, takes
 * a slot, copies what the kernel must read (write data, a path, an address) into the slot's
 * staging memory, writes a descriptor into the control block shared with the addon, and returns a
 * promise. Before the event loop blocks, the addon submits every queued descriptor with one
 * `io_uring_enter`. When the ring's eventfd fires, the addon writes the batch of completions into
 * the control block and calls `#complete` once; it copies read data out of staging memory into the
 * caller's buffer and settles the promises.
 *
 * The kernel only ever touches staging memory, never a JS buffer, so collecting, detaching,
 * transferring or mutating a buffer while its op is in flight cannot corrupt memory: a write sends
 * what the buffer held at the call, a read into a buffer that was detached meanwhile rejects.
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer'
import { fileURLToPath } from 'node:url'
import * as native from './binding.js'
import { AbortError, invalidArgType, invalidArgValue, invalidState, netError, outOfRange, systemError } from './errors.js'
import { asyncDispose } from './dispose.js'
import { openFlags } from './flags.js'

/** How an op is ordered against the ops submitted right after it (or before it, for `Drain`). */
export const Ordering = Object.freeze({
  /** No ordering: the kernel may run it in parallel with anything. */
  None: 0,
  /** The next op starts only after this one succeeds; if it fails (a short read or write counts),
   * the rest of the chain fails with ECANCELED. */
  Link: 1,
  /** Like `Link`, but the chain goes on when this op fails. */
  HardLink: 2,
  /** Starts after every op submitted before it has completed, and holds back every later op. */
  Drain: 3,
} as const)
export type Ordering = (typeof Ordering)[keyof typeof Ordering]

/** Options every op takes. */
export interface OpOptions {
  /** Ordering against neighbouring ops submitted in the same tick (see {@link Ordering}). */
  ordering?: Ordering
  /** Aborting cancels the op in the kernel and rejects its promise with an `AbortError`. */
  signal?: AbortSignal
  /**
   * Failures are shaped as Node's `net` errors from this syscall (`read ECONNRESET`).
   * @internal
   */
  netSyscall?: string
}

/** Options of `new Ring()`. */
export interface RingOptions {
  /** Submission queue entries, 1 to 32768 (default 256); the ring holds twice as many ops in flight. */
  entries?: number
  /** 'auto' (io_uring, or 'threads' where the kernel refuses it), 'io_uring' or 'threads'.
   * Defaults to the RIO_URING_BACKEND environment variable, else 'auto'. */
  backend?: 'auto' | 'io_uring' | 'threads'
  /** A kernel thread polls the submission queue (IORING_SETUP_SQPOLL). Measure first: on a
   * 2-core machine it competes with JavaScript for a core. */
  sqPoll?: boolean
  /** Record submit-to-complete latencies, shown by `stats()`. */
  profile?: boolean
}

/** A file's status as `statx(2)` gives it. Times are in milliseconds (and nanoseconds with `bigint`). */
export interface Statx<T extends number | bigint = number> {
  /** Which fields the kernel filled (STATX_* bits). */
  mask: number
  /** The device the file is on. */
  dev: T
  /** The inode number. */
  ino: T
  /** File type and permission bits (S_IF* | mode). */
  mode: T
  /** Hard links. */
  nlink: T
  /** Owner. */
  uid: T
  /** Group. */
  gid: T
  /** The device a device file stands for. */
  rdev: T
  /** Size in bytes. */
  size: T
  /** The preferred IO block size. */
  blksize: T
  /** 512-byte blocks allocated. */
  blocks: T
  /** STATX_ATTR_* bits. */
  attributes: T
  /** Last access, in milliseconds since the epoch. */
  atimeMs: T
  /** Last modification of the contents. */
  mtimeMs: T
  /** Last change of the inode. */
  ctimeMs: T
  /** Creation (0 where the file system does not record it). */
  birthtimeMs: T
  /** Last access in nanoseconds since the epoch; only with `bigint: true`. */
  atimeNs?: bigint
  /** Last modification in nanoseconds; only with `bigint: true`. */
  mtimeNs?: bigint
  /** Last inode change in nanoseconds; only with `bigint: true`. */
  ctimeNs?: bigint
  /** Creation in nanoseconds; only with `bigint: true`. */
  birthtimeNs?: bigint
}

/** A connection `accept` took. */
export interface Accepted {
  /** The new connection's socket (close-on-exec). */
  fd: number
  /** The peer's IP address. */
  address?: string
  /** The peer's port. */
  port?: number
  /** 'IPv4' or 'IPv6'. */
  family?: string
}

/** A ring's counters. */
export interface RingStats {
  /** 'io_uring' or 'threads'. */
  backend: string
  /** Ops submitted to the kernel (or the thread pool) so far. */
  submitted: number
  /** Ops completed so far. */
  completed: number
  /** Ops started from JS and not yet settled (queued, in the kernel, or waiting for a slot). */
  inFlight: number
  /** Ops waiting for a free slot. */
  waiting: number
  /** Times the ring entered the kernel to submit. */
  flushes: number
  /** Submit-to-complete latency in microseconds (only for rings made with `profile: true`). */
  latency?: { count: number; p50Us: number; p90Us: number; p99Us: number; maxUs: number }
}

type PathLike = string | Uint8Array | URL
type Position = number | bigint | null | undefined

/** What a completion resolves to. */
const enum Settle {
  /** The result: a byte count. */
  Count,
  /** A byte count, after copying the data into the target view. */
  Read,
  /** A byte count, after scattering the data over the target views. */
  ReadV,
  /** Nothing. */
  Void,
  /** A new fd. */
  Fd,
  Statx,
  StatxBigInt,
  Accept,
  /** Nothing, once the timer has expired (the kernel reports that as ETIME). */
  Timer,
  /** The full length, once a partial send has been continued from staging memory. */
  SendAll,
  /** One read of a `readBatch`: copy the data, count it in the batch. */
  BatchRead,
  /** A multishot accept: each completion with MORE hands an fd to the op's callback. */
  AcceptMulti,
  /** A multishot receive: each completion hands a copy of the provided buffer it filled. */
  RecvMulti,
  /** A new Buffer of exactly the bytes received (the data copied out of staging memory). */
  Chunk,
  /** As `Chunk`, as an iterator result: `{ value: chunk, done: false }`, or done at the end. */
  ChunkResult,
}

/** The targets of a `readvAt`, with their lengths when it started (a detached view shrinks to 0). */
interface Vector {
  views: Uint8Array[]
  lengths: number[]
}

/** A `readBatch` in flight: one promise for many reads. */
interface Batch {
  remaining: number
  results: number[]
  error: Error | null
  resolve: (results: number[]) => void
  reject: (error: Error) => void
}

/**
 * Ops of one kind a caller has in flight (a connection's sends, an iterator's receives), counted
 * down by the ring as each settles, before its promise does. A field write rather than a callback:
 * when the completion arrives the caller's objects have gone cold in cache, and a callback (its
 * closure, its context, the object it updates) cost three misses where this costs one; measured
 * on the for-await echo server, 0.97 -> 0.91 us of JS per round trip. @internal
 */
export interface InFlight {
  /** Ops started and not yet settled; the caller counts up, the ring down. */
  count: number
  /** Set by the ring once one of the ops settled with a result <= 0 (an error, or a receive's end
   * of stream): an iterator's calls read it to end the iteration; a connection's sends ignore it. */
  stopped: boolean
}

/** Counts one op of `inFlight` (if the op is counted in one) as settled with `result`. @internal */
export function settled(inFlight: InFlight | undefined, result: number): void {
  if (inFlight === undefined) return
  inFlight.count--
  if (result <= 0) inFlight.stopped = true
}

const { SLOT_BYTES, SLOT_STRIDE, STATX_OFFSET, DESCRIPTOR_FIELDS, HEADER_INTS, COMPLETION_INTS, PROVIDED_BUFFER_BYTES } = native
const { SOCKET_STAGE_STEP, SOCKET_STAGE_STEPS } = native
const OP_SEND = native.OpCode.Send
const OP_RECV = native.OpCode.Recv

/**
 * TypedArray.prototype's `set` and `byteLength` getter, for the per-op paths to call directly.
 * Node 20's TurboFan compiles `view.set(..)` and `view.byteLength` on a Buffer or Uint8Array as
 * generic IC calls (seen in the echo server's optimized code; `LoadIC` was 1% of its CPU); a call
 * of the intrinsic compiles to the builtin itself (53 -> 34 ns for a length check and a 128-byte
 * copy). The intrinsics also see what the memory is, whatever a subclass overrides.
 */
const typedArraySet = Uint8Array.prototype.set
const typedArrayByteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength')!
  .get! as (this: ArrayBufferView) => number

/** `view.byteLength`, 0 once its buffer is detached. @internal */
export function byteLengthOf(view: Uint8Array): number {
  return typedArrayByteLength.call(view)
}

/** `target.set(source, offset)`. */
function copyInto(target: Uint8Array, source: Uint8Array, offset: number): void {
  typedArraySet.call(target, source, offset)
}

/**
 * A new Buffer holding `length` bytes of `memory` from `offset`. From Buffer's pool when small
 * (Buffer.copyBytesFrom allocates an ArrayBuffer, a malloc and a later free, per call); a fresh
 * Uint8Array over the memory is the cheapest source for `set` (a Buffer subarray goes through
 * Buffer's species constructor).
 */
function copyOut(memory: ArrayBuffer, offset: number, length: number): Buffer {
  const copy = Buffer.allocUnsafe(length)
  if (length > 0) copyInto(copy, new Uint8Array(memory, offset, length), 0)
  return copy
}

const { H_QUEUED, H_IN_FLIGHT, H_REFED } = native
const { D_OP, D_SLOT, D_FD, D_LEN, D_POSITION, D_ORDERING, D_ARG_A, D_ARG_B } = native
const AT_SYMLINK_NOFOLLOW = 0x100
const AT_REMOVEDIR = 0x200
const STATX_BASIC_STATS = 0x7ff
const STATX_BTIME = 0x800
const SYNC_FILE_RANGE_ALL = 7
const ECANCELED = 125
const ENOBUFS = 105
const ENOMEM = 12
const EINVAL = 22
/** CQE flags: a multishot op goes on; the data is in provided buffer `flags >>> 16`. */
const CQE_F_BUFFER = 1
const CQE_F_MORE = 2
const ETIME = 62
const MAX_POSITION = 2 ** 53 - 1
/** The most `recvChunk` receives at once (past a slot's 64 KiB, it stages in memory of its own). */
const MAX_CHUNK_BYTES = 16 * 1024 * 1024

const noop = (): void => {}
/** What `netRecvResult`, and so every connection iterator, resolves to at the end of the stream. @internal */
export const ITERATION_DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true })

function defaultBackend(): string {
  return process.env.RIO_URING_BACKEND || 'auto'
}

/** Why an argument is invalid, or null. */
function checkFd(fd: unknown): Error | null {
  if (typeof fd !== 'number') return invalidArgType('fd', 'of type number', fd)
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) return outOfRange('fd', '>= 0 && <= 2147483647', fd)
  return null
}

/** -1 for "the current position", else a checked offset; an Error when invalid. */
function positionOf(position: Position): number | Error {
  if (position == null) return -1
  if (typeof position === 'bigint') {
    if (position === -1n) return -1
    if (position < 0n || position > BigInt(MAX_POSITION)) return outOfRange('position', `>= 0 && <= ${MAX_POSITION}`, position)
    return Number(position)
  }
  if (typeof position !== 'number') return invalidArgType('position', 'of type number or bigint', position)
  if (position === -1) return -1
  if (!Number.isInteger(position) || position < 0 || position > MAX_POSITION) {
    return outOfRange('position', `an integer >= -1 && <= ${MAX_POSITION}`, position)
  }
  return position
}

function offsetOf(name: string, value: unknown): number | Error {
  if (typeof value === 'bigint') value = Number(value)
  if (typeof value !== 'number') return invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < 0 || value > MAX_POSITION) return outOfRange(name, `>= 0 && <= ${MAX_POSITION}`, value)
  return value
}

/** A Uint8Array over the bytes of any ArrayBufferView; an Error for anything else. @internal */
export function bytesOf(name: string, buffer: unknown): Uint8Array | Error {
  if (buffer instanceof Uint8Array) return buffer
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  return invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', buffer)
}

/** A path checked: the bytes to hand the kernel (NUL-terminated later), and its text for errors. */
export interface PathArgument {
  bytes: Uint8Array | string
  text: string
}

/** Whether `value` is a URL as Node's fs takes one (its `isURL`: URL-like objects from other realms too). */
function isURL(value: unknown): value is URL {
  const url = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown } | null | undefined
  return Boolean(url?.href && url.protocol && url.auth === undefined && url.path === undefined)
}

/**
 * `path` checked as Node's `getValidatedPath` checks it, with its errors: a string, a Uint8Array or
 * a `file:` URL, without NUL bytes. `name` is the argument's name in the error.
 * @internal
 */
export function pathOf(name: string, path: unknown): PathArgument | Error {
  if (isURL(path)) {
    try {
      path = fileURLToPath(path)
    } catch (error) {
      return error as Error // Node's own: ERR_INVALID_URL_SCHEME, ERR_INVALID_FILE_URL_PATH, ...
    }
  }
  if (typeof path === 'string') {
    if (path.includes('\u0000')) return invalidArgValue(name, path, 'must be a string, Uint8Array, or URL without null bytes')
    return { bytes: path, text: path }
  }
  if (path instanceof Uint8Array) {
    if (path.includes(0)) return invalidArgValue(name, path, 'must be a string, Uint8Array, or URL without null bytes')
    return { bytes: path, text: Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString() }
  }
  return invalidArgType(name, ['string', 'Buffer', 'URL'], path)
}

function detachedError(syscall: string): Error {
  return invalidState(`the buffer given to ${syscall} was detached, transferred or shrunk while the op was in flight; the data was discarded`)
}

/** An op whose staging memory is gone when it completes (an invariant broken, never expected). */
function stagingGone(syscall: string): Error {
  return invalidState(`the staging memory of this ${syscall} is gone; its data was discarded`)
}

function ringError(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error))
  const match = /^(ERR_[A-Z_]+): (.*)$/s.exec(error.message)
  if (match) {
    const coded = new Error(match[2]) as Error & { code: string }
    coded.code = match[1]
    return coded
  }
  return error
}

/** An op that could not get a slot yet. */
interface Waiting {
  start: () => void
  cancel: (error: Error) => void
}

/** An abort listener attached to an op. */
interface AbortHook {
  signal: AbortSignal
  listener: () => void
}

/** The slot whose promise `promiseFor` is making (it is set and used within that call). */
let pendingSlot: Slot | null = null

/** Keeps the resolving functions of the promise being made in `pendingSlot`. One executor for
 * every op, not a closure each; a module function rather than a ring's field, so the optimizing
 * compiler knows the call target and inlines it into `new Promise`. */
function keepResolvers(resolve: (value: any) => void, reject: (error: unknown) => void): void {
  const slot = pendingSlot!
  slot.resolve = resolve
  slot.reject = reject
}

/** A new promise for the op in `slot`, settled through the functions it keeps. */
function promiseFor(slot: Slot): Promise<any> {
  // Restored rather than cleared: a promise hook (async_hooks' init runs inside `new Promise`,
  // before the executor) may start an op, and so make a promise, of its own meanwhile.
  const outer = pendingSlot
  pendingSlot = slot
  const promise = new Promise(keepResolvers)
  pendingSlot = outer
  return promise
}

/**
 * One slot of the ring and the op in it, from its start to its settlement: what the completion
 * needs. Made with the ring and reused op after op, so starting an op allocates nothing but its
 * promise; and an op's state sits in one object, so settling it touches a cache line or two
 * rather than one per field, as parallel per-slot arrays did (between an op's start and its
 * completion the kernel's own work evicts them).
 */
class Slot {
  /** What the completion resolves to. */
  settle: Settle = Settle.Void
  /** Where in the slab the op's bytes are staged: `start`, or `socketStage` for a send or receive. */
  stageAt: number
  resolve: (value: any) => void = noop
  reject: (error: unknown) => void = noop
  /** Where a read's data goes. */
  target: Uint8Array | Vector | null = null
  /** What the op is counted in, counted down as it settles, before its promise (see `InFlight`). */
  inFlight: InFlight | undefined = undefined
  // An op that continues (a partial send, a multishot op re-armed) is queued again with its `fd`
  // and `flags`; a send also with the bytes `sent` so far of its `length` (see `continueWith`).
  fd = 0
  flags = 0
  sent = 0
  length = 0
  /** The op's promise already settled (aborted, or a multishot callback threw): its completion
   * only frees the slot. */
  orphaned = false
  /** The op stages in a buffer of its own (the addon's), not in the slab. */
  big = false
  /** A multishot receive that found no free provided buffer reads its next chunk with a plain
   * recv into the slot's staging memory (re-arming at once would fail the same way). */
  plainRecv = false
  syscall = ''
  /** Failures are shaped as `net` errors of this syscall (see `OpOptions.netSyscall`). */
  netSyscall: string | undefined = undefined
  path: string | undefined = undefined
  dest: string | undefined = undefined
  abort: AbortHook | undefined = undefined
  /** A multishot op's callback, for each fd it accepts or chunk it receives. */
  onItem: ((item: any) => void) | undefined = undefined
  /** The `readBatch` the read belongs to, and its index there. */
  batch: Batch | null = null
  batchIndex = 0
  /** The slot's number: its staging memory, and its tag in the addon. */
  readonly index: number
  /** Where the slot's staging memory starts in the slab. */
  readonly start: number
  /** Where a send or receive stages its bytes: a few cache lines into the slot (the addon's
   * SOCKET_STAGE_STEP says why, and its decoding agrees). */
  readonly socketStage: number

  constructor(index: number) {
    this.index = index
    this.start = index * SLOT_STRIDE
    this.socketStage = this.start + (index % SOCKET_STAGE_STEPS) * SOCKET_STAGE_STEP
    this.stageAt = this.start
  }

  /** Records what the completion of the op starting in this slot needs (the rest of a continuing
   * op's is `continueWith`'s, a path op's `path` and `dest`, a multishot op's `onItem`). */
  begin(settle: Settle, syscall: string, netSyscall: string | undefined, target: Uint8Array | Vector | null, stageAt: number, big: boolean): void {
    this.settle = settle
    this.syscall = syscall
    this.netSyscall = netSyscall
    this.target = target
    this.stageAt = stageAt
    this.big = big
  }

  /** Settles the op's promise no more (aborted, or its callback threw): its completion will only
   * free the slot. Returns the promise's reject function, for the caller to settle it now. */
  orphan(): (error: unknown) => void {
    const reject = this.reject
    this.orphaned = true
    this.resolve = noop
    this.reject = noop
    return reject
  }

  /** Records what a continuing op is queued again with: a send's rest, a multishot op re-armed. */
  continueWith(fd: number, flags: number, length: number): void {
    this.fd = fd
    this.flags = flags
    this.sent = 0
    this.length = length
  }
}

/**
 * A ring: submit IO, get promises. Ops issued in the same tick reach the kernel in one
 * `io_uring_enter`; completions come back in batches. Close it with `close()` (or `await using`).
 *
 * ```ts
 * const ring = new Ring()
 * const n = await ring.readAt(fd, buffer, 0)
 * ```
 */
export class Ring {
  readonly #native: native.NativeRing
  /** The addon's `multishot`, read once: iteration asks per chunk, and a call into the addon
   * costs more than the rest of that check. */
  readonly #multishot: boolean
  readonly #header: Int32Array
  readonly #descriptors: Float64Array
  readonly #completions: Int32Array
  readonly #slab: Buffer
  readonly #slabBuffer: ArrayBuffer
  readonly #slabView: DataView
  /** Every slot's op record, by slot number. */
  readonly #ops: Slot[] = []
  readonly #free: Slot[] = []
  /** The buffers multishot receives fill (ring-owned), once the addon made them. */
  #provided: ArrayBuffer | null = null
  readonly #waiting: Waiting[] = []
  #inFlight = 0
  /** True while ops that waited for a slot are being started: they may take free slots even
   * though others still wait behind them. */
  #dispatching = false
  #closed = false
  #closing: Promise<void> | null = null
  /** The counters as they were when the ring was freed. */
  #finalStats: RingStats | null = null
  #drained: (() => void) | null = null

  /**
   * Starts a ring: `entries` submission entries (the completion queue holds twice as many, the
   * most ops in the kernel at once), on `backend` ('auto' by default, or RIO_URING_BACKEND).
   * Throws ERR_IO_URING_UNAVAILABLE, with the cause and the fix, when 'io_uring' is forced and
   * the kernel refuses it.
   */
  constructor(options: RingOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    const entries = options.entries ?? 256
    if (typeof entries !== 'number') throw invalidArgType('options.entries', 'of type number', entries)
    if (!Number.isInteger(entries) || entries < 1 || entries > 32768) throw outOfRange('options.entries', '>= 1 && <= 32768', entries)
    const backend = options.backend ?? defaultBackend()
    if (backend !== 'auto' && backend !== 'io_uring' && backend !== 'threads') {
      throw invalidArgValue('options.backend', backend, "must be 'auto', 'io_uring' or 'threads'")
    }
    try {
      this.#native = new native.NativeRing(entries, backend, options.sqPoll === true, options.profile === true, this.#complete)
    } catch (error) {
      throw ringError(error)
    }
    const slots = this.#native.slots
    this.#multishot = this.#native.multishot
    const control = this.#native.control() as ArrayBuffer
    this.#header = new Int32Array(control, 0, HEADER_INTS)
    this.#descriptors = new Float64Array(control, HEADER_INTS * 4, slots * DESCRIPTOR_FIELDS)
    this.#completions = new Int32Array(control, HEADER_INTS * 4 + slots * DESCRIPTOR_FIELDS * 8, slots * COMPLETION_INTS)
    const slab = this.#native.slab() as ArrayBuffer
    this.#slab = Buffer.from(slab)
    this.#slabBuffer = slab
    this.#slabView = new DataView(slab)
    for (let index = 0; index < slots; index++) this.#ops.push(new Slot(index))
    // Lowest slots first, so a light load keeps reusing the same few pages of staging memory.
    for (let index = slots - 1; index >= 0; index--) this.#free.push(this.#ops[index])
  }

  /** The engine running this ring: 'io_uring' or 'threads'. */
  get backend(): 'io_uring' | 'threads' {
    return this.#native.backend as 'io_uring' | 'threads'
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed
  }

  // ---- ops -------------------------------------------------------------------------------------

  /** A round trip through the ring that does nothing (IORING_OP_NOP). */
  nop(options?: OpOptions): Promise<void> {
    return this.#submit(native.OpCode.Nop, Settle.Void, 'nop', 0, null, null, 0, -1, 0, 0, options)
  }

  /**
   * Reads into the whole of `buffer` from `position` (null, undefined or -1: the file's current
   * position). Resolves to the bytes read; 0 at end of file.
   */
  readAt(fd: number, buffer: ArrayBufferView, position?: Position, options?: OpOptions): Promise<number> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    const view = bytesOf('buffer', buffer)
    if (view instanceof Error) return Promise.reject(view)
    const at = positionOf(position)
    if (at instanceof Error) return Promise.reject(at)
    return this.#submit(native.OpCode.Read, Settle.Read, 'read', fd, view, null, byteLengthOf(view), at, 0, 0, options)
  }

  /** Writes all of `buffer` at `position`. Resolves to the bytes written (possibly fewer). */
  writeAt(fd: number, buffer: ArrayBufferView, position?: Position, options?: OpOptions): Promise<number> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    const view = bytesOf('buffer', buffer)
    if (view instanceof Error) return Promise.reject(view)
    const at = positionOf(position)
    if (at instanceof Error) return Promise.reject(at)
    return this.#submit(native.OpCode.Write, Settle.Count, 'write', fd, null, view, byteLengthOf(view), at, 0, 0, options)
  }

  /** Reads from `position` into the buffers in order (like `preadv(2)`). Resolves to the total. */
  readvAt(fd: number, buffers: readonly ArrayBufferView[], position?: Position, options?: OpOptions): Promise<number> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    const views = this.#viewsOf(buffers)
    if (views instanceof Error) return Promise.reject(views)
    const at = positionOf(position)
    if (at instanceof Error) return Promise.reject(at)
    const lengths = views.map((view) => view.byteLength)
    const total = lengths.reduce((sum, length) => sum + length, 0)
    return this.#submit(native.OpCode.Read, Settle.ReadV, 'read', fd, { views, lengths }, null, total, at, 0, 0, options)
  }

  /** Writes the buffers in order from `position` (like `pwritev(2)`). Resolves to the total written. */
  writevAt(fd: number, buffers: readonly ArrayBufferView[], position?: Position, options?: OpOptions): Promise<number> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    const views = this.#viewsOf(buffers)
    if (views instanceof Error) return Promise.reject(views)
    const at = positionOf(position)
    if (at instanceof Error) return Promise.reject(at)
    const joined = views.length === 1 ? views[0] : Buffer.concat(views)
    return this.#submit(native.OpCode.Write, Settle.Count, 'write', fd, null, joined, joined.byteLength, at, 0, 0, options)
  }

  /**
   * Many reads in one call: `buffers[i]` is filled from `positions[i]` of `fd`. One promise for the
   * batch, resolving to the bytes read into each buffer; if any read fails, it rejects with the
   * first failure once every read has finished. Cheaper per read than `readAt`: no promise each.
   */
  readBatch(fd: number, buffers: readonly ArrayBufferView[], positions: ArrayLike<number | bigint>, options?: OpOptions): Promise<number[]> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    if (this.#closed) return Promise.reject(invalidState('the ring is closed'))
    const views = this.#viewsOf(buffers)
    if (views instanceof Error) return Promise.reject(views)
    if (positions == null || typeof positions.length !== 'number') return Promise.reject(invalidArgType('positions', 'an array of numbers', positions))
    if (positions.length !== views.length) {
      return Promise.reject(invalidArgValue('positions', positions.length, `must have one position per buffer (${views.length})`))
    }
    const at: number[] = new Array(views.length)
    for (let i = 0; i < views.length; i++) {
      const position = positionOf(positions[i])
      if (position instanceof Error) return Promise.reject(position)
      if (views[i].byteLength > SLOT_BYTES) return Promise.reject(outOfRange('buffers[i].byteLength', `<= ${SLOT_BYTES} in a batch`, views[i].byteLength))
      at[i] = position
    }
    if (options !== undefined && options.signal !== undefined) {
      return Promise.reject(invalidArgValue('options.signal', options.signal, 'is not supported by readBatch'))
    }
    const ordering = options?.ordering ?? 0
    if (views.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      const batch: Batch = { remaining: views.length, results: new Array(views.length), error: null, resolve, reject }
      this.#inFlight += views.length
      this.#startBatch(batch, fd, views, at, ordering, 0)
    })
  }

  /** Queues the reads of a batch from `first` on, waiting for slots when they run out. */
  #startBatch(batch: Batch, fd: number, views: Uint8Array[], positions: number[], ordering: number, first: number): void {
    for (let i = first; i < views.length; i++) {
      const slot = this.#takeSlot()
      if (slot === undefined) {
        // Back at the head of the queue when it was being dispatched from there: it keeps its turn.
        this.#enqueue({
          start: () => this.#startBatch(batch, fd, views, positions, ordering, i),
          cancel: (error) => {
            const unstarted = views.length - i
            this.#inFlight -= unstarted
            batch.error ??= error
            batch.remaining -= unstarted
            if (batch.remaining === 0) batch.reject(batch.error)
          },
        })
        return
      }
      slot.settle = Settle.BatchRead
      slot.big = false
      slot.target = views[i]
      slot.syscall = 'read'
      slot.batch = batch
      slot.batchIndex = i
      this.#queue(native.OpCode.Read, slot, fd, views[i].byteLength, positions[i], ordering, 0, 0)
    }
  }

  /** `fsync(2)`: the file's data and metadata reach stable storage. */
  fsync(fd: number, options?: OpOptions): Promise<void> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    return this.#submit(native.OpCode.Fsync, Settle.Void, 'fsync', fd, null, null, 0, -1, 0, 0, options)
  }

  /** `fdatasync(2)`: the file's data (and the metadata needed to read it) reach stable storage. */
  fdatasync(fd: number, options?: OpOptions): Promise<void> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    return this.#submit(native.OpCode.Fsync, Settle.Void, 'fdatasync', fd, null, null, 0, -1, 1, 0, options)
  }

  /**
   * `sync_file_range(2)` of `length` bytes at `offset` (0: to the end of the file). `flags` are
   * SYNC_FILE_RANGE_* bits; the default (7) writes the range out and waits for it.
   */
  syncFileRange(fd: number, offset: number, length: number, flags = SYNC_FILE_RANGE_ALL, options?: OpOptions): Promise<void> {
    const error = checkFd(fd) ?? this.#uintError('flags', flags)
    if (error) return Promise.reject(error)
    const at = offsetOf('offset', offset)
    if (at instanceof Error) return Promise.reject(at)
    if (!Number.isInteger(length) || length < 0 || length > 0xffffffff) return Promise.reject(outOfRange('length', '>= 0 && <= 4294967295', length))
    return this.#submitSized(native.OpCode.SyncFileRange, 'sync_file_range', fd, length, at, flags, 0, options)
  }

  /** `fallocate(2)`: allocates `length` bytes at `offset` (mode 0 also grows the file). */
  fallocate(fd: number, offset: number, length: number, mode = 0, options?: OpOptions): Promise<void> {
    const error = checkFd(fd) ?? this.#uintError('mode', mode)
    if (error) return Promise.reject(error)
    const at = offsetOf('offset', offset)
    if (at instanceof Error) return Promise.reject(at)
    const len = offsetOf('length', length)
    if (len instanceof Error) return Promise.reject(len)
    return this.#submit(native.OpCode.Fallocate, Settle.Void, 'fallocate', fd, null, null, 0, at, mode, len, options)
  }

  /** `openat(2)`: opens `path` with `flags` (a number or a flag string like 'r+', default 'r'). Resolves to the fd. */
  open(path: PathLike, flags: string | number = 'r', mode = 0o666, options?: OpOptions): Promise<number> {
    const target = pathOf('path', path)
    if (target instanceof Error) return Promise.reject(target)
    let numeric: number
    try {
      numeric = openFlags(flags)
    } catch (error) {
      return Promise.reject(error)
    }
    const error = this.#uintError('mode', mode)
    if (error) return Promise.reject(error)
    return this.#submitPath(native.OpCode.Open, Settle.Fd, 'open', target, undefined, numeric, mode, options)
  }

  /** `close(2)` through the ring. */
  close(fd: number, options?: OpOptions): Promise<void>
  /** Closes the ring: cancels what is in flight (each op settles, rejected with ECANCELED if it
   * had not finished), then frees it. Idempotent. */
  close(): Promise<void>
  close(fd?: number, options?: OpOptions): Promise<void> {
    // Only a call without arguments closes the ring: `close(fd)` with an fd that was never set
    // (undefined) is a bad argument, not a request to cancel every op.
    if (arguments.length === 0) return this.#closeRing()
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    return this.#submit(native.OpCode.Close, Settle.Void, 'close', fd as number, null, null, 0, -1, 0, 0, options)
  }

  /**
   * `statx(2)` of a path or an open fd. `flags` are AT_* bits (`symlinks: false` adds
   * AT_SYMLINK_NOFOLLOW); `bigint` gives bigint fields and nanosecond times.
   */
  statx(target: PathLike | number, options?: OpOptions & { bigint?: false; symlinks?: boolean; flags?: number; syscall?: string }): Promise<Statx<number>>
  statx(target: PathLike | number, options: OpOptions & { bigint: true; symlinks?: boolean; flags?: number; syscall?: string }): Promise<Statx<bigint>>
  statx(target: PathLike | number, options: OpOptions & { bigint?: boolean; symlinks?: boolean; flags?: number; syscall?: string } = {}): Promise<Statx<number> | Statx<bigint>> {
    const settle = options.bigint ? Settle.StatxBigInt : Settle.Statx
    const flags = (options.flags ?? 0) | (options.symlinks === false ? AT_SYMLINK_NOFOLLOW : 0)
    const mask = STATX_BASIC_STATS | STATX_BTIME
    if (typeof target === 'number') {
      const error = checkFd(target)
      if (error) return Promise.reject(error)
      return this.#submit(native.OpCode.Statx, settle, options.syscall ?? 'fstat', target, null, null, 0, -1, flags, mask, options)
    }
    const path = pathOf('path', target)
    if (path instanceof Error) return Promise.reject(path)
    return this.#submitPath(native.OpCode.Statx, settle, options.syscall ?? 'statx', path, undefined, flags, mask, options)
  }

  /** `unlinkat(2)`: removes a file. */
  unlink(path: PathLike, options?: OpOptions): Promise<void> {
    const target = pathOf('path', path)
    if (target instanceof Error) return Promise.reject(target)
    return this.#submitPath(native.OpCode.Unlink, Settle.Void, 'unlink', target, undefined, 0, 0, options)
  }

  /** `unlinkat(2)` with AT_REMOVEDIR: removes an empty directory. */
  rmdir(path: PathLike, options?: OpOptions): Promise<void> {
    const target = pathOf('path', path)
    if (target instanceof Error) return Promise.reject(target)
    return this.#submitPath(native.OpCode.Unlink, Settle.Void, 'rmdir', target, undefined, AT_REMOVEDIR, 0, options)
  }

  /** `renameat2(2)`: renames `from` to `to` (replacing `to`). */
  rename(from: PathLike, to: PathLike, options?: OpOptions): Promise<void> {
    const source = pathOf('oldPath', from)
    if (source instanceof Error) return Promise.reject(source)
    const dest = pathOf('newPath', to)
    if (dest instanceof Error) return Promise.reject(dest)
    return this.#submitPath(native.OpCode.Rename, Settle.Void, 'rename', source, dest, 0, 0, options)
  }

  /** `mkdirat(2)`: creates a directory. */
  mkdir(path: PathLike, mode = 0o777, options?: OpOptions): Promise<void> {
    const target = pathOf('path', path)
    if (target instanceof Error) return Promise.reject(target)
    const error = this.#uintError('mode', mode)
    if (error) return Promise.reject(error)
    return this.#submitPath(native.OpCode.Mkdir, Settle.Void, 'mkdir', target, undefined, mode, 0, options)
  }

  /** `linkat(2)`: a hard link `newPath` to the file at `existingPath`. */
  link(existingPath: PathLike, newPath: PathLike, options?: OpOptions): Promise<void> {
    const source = pathOf('existingPath', existingPath)
    if (source instanceof Error) return Promise.reject(source)
    const dest = pathOf('newPath', newPath)
    if (dest instanceof Error) return Promise.reject(dest)
    return this.#submitPath(native.OpCode.Link, Settle.Void, 'link', source, dest, 0, 0, options)
  }

  /** `symlinkat(2)`: a symbolic link at `path` holding `target`. */
  symlink(target: PathLike, path: PathLike, options?: OpOptions): Promise<void> {
    const held = pathOf('target', target)
    if (held instanceof Error) return Promise.reject(held)
    const link = pathOf('path', path)
    if (link instanceof Error) return Promise.reject(link)
    return this.#submitPath(native.OpCode.Symlink, Settle.Void, 'symlink', held, link, 0, 0, options)
  }

  /** `ftruncate(2)`: the file becomes `length` bytes long. */
  ftruncate(fd: number, length = 0, options?: OpOptions): Promise<void> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    const len = offsetOf('len', length)
    if (len instanceof Error) return Promise.reject(len)
    return this.#submit(native.OpCode.Ftruncate, Settle.Void, 'ftruncate', fd, null, null, 0, len, 0, 0, options)
  }

  /** `accept4(2)` on a listening socket: the new connection's fd and its peer's address. */
  accept(fd: number, options?: OpOptions): Promise<Accepted> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    return this.#submit(native.OpCode.Accept, Settle.Accept, 'accept', fd, null, null, 0, -1, 0, 0, options)
  }

  /** `connect(2)` a socket to `host` (an IP address) and `port`. */
  connect(fd: number, port: number, host = '127.0.0.1', options?: OpOptions): Promise<void> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    if (!Number.isInteger(port) || port < 0 || port > 65535) return Promise.reject(outOfRange('port', '>= 0 && <= 65535', port))
    const address = native.sockaddrEncode(String(host), port)
    if (address === null) return Promise.reject(invalidArgValue('host', host, 'must be an IPv4 or IPv6 address'))
    return this.#submit(native.OpCode.Connect, Settle.Void, 'connect', fd, null, address, address.byteLength, -1, 0, 0, options)
  }

  /** `send(2)` of `buffer` (MSG_NOSIGNAL). Resolves to the bytes sent, which may be fewer. */
  send(fd: number, buffer: ArrayBufferView, options?: OpOptions & { flags?: number }): Promise<number> {
    const error = checkFd(fd) ?? this.#uintError('flags', options?.flags ?? 0)
    if (error) return Promise.reject(error)
    const view = bytesOf('buffer', buffer)
    if (view instanceof Error) return Promise.reject(view)
    return this.#submit(native.OpCode.Send, Settle.Count, 'send', fd, null, view, byteLengthOf(view), -1, options?.flags ?? 0, 0, options)
  }

  /**
   * Sends all of `buffer`: a partial send is continued from the ring's copy of the data, with no
   * round trip to JS. Resolves to the buffer's length.
   */
  sendAll(fd: number, buffer: ArrayBufferView, options?: OpOptions & { flags?: number }): Promise<number> {
    const error = checkFd(fd) ?? this.#uintError('flags', options?.flags ?? 0)
    if (error) return Promise.reject(error)
    const view = bytesOf('buffer', buffer)
    if (view instanceof Error) return Promise.reject(view)
    return this.#submit(native.OpCode.Send, Settle.SendAll, 'send', fd, null, view, byteLengthOf(view), -1, options?.flags ?? 0, 0, options)
  }

  /** `recv(2)` into `buffer`. Resolves to the bytes received: 0 once the peer has shut down. */
  recv(fd: number, buffer: ArrayBufferView, options?: OpOptions & { flags?: number }): Promise<number> {
    const error = checkFd(fd) ?? this.#uintError('flags', options?.flags ?? 0)
    if (error) return Promise.reject(error)
    const view = bytesOf('buffer', buffer)
    if (view instanceof Error) return Promise.reject(view)
    return this.#submit(native.OpCode.Recv, Settle.Read, 'recv', fd, view, null, byteLengthOf(view), -1, options?.flags ?? 0, 0, options)
  }

  /**
   * `recv(2)` of up to `maxBytes` into the ring's staging memory. Resolves to a new Buffer of
   * exactly the bytes received (empty once the peer has shut down): no buffer of `maxBytes` to
   * allocate per receive, as `recv` into a fresh buffer would need. Up to 64 KiB the receive
   * uses its op's staging slot; a larger `maxBytes` stages in memory of that size, held until
   * data comes (so keep it small for receives that may wait long).
   */
  recvChunk(fd: number, maxBytes: number, options?: OpOptions & { flags?: number }): Promise<Buffer> {
    const error = checkFd(fd) ?? this.#uintError('flags', options?.flags ?? 0)
    if (error) return Promise.reject(error)
    if (typeof maxBytes !== 'number') return Promise.reject(invalidArgType('maxBytes', 'of type number', maxBytes))
    if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_CHUNK_BYTES) {
      return Promise.reject(outOfRange('maxBytes', `an integer >= 1 and <= ${MAX_CHUNK_BYTES}`, maxBytes))
    }
    return this.#submit(native.OpCode.Recv, Settle.Chunk, 'recv', fd, null, null, maxBytes, -1, options?.flags ?? 0, 0, options)
  }

  /** Whether `acceptMultishot` and `recvMultishot` work here (io_uring on Linux 6.0 or later). */
  get multishot(): boolean {
    return !this.#closed && this.#multishot
  }

  /**
   * Multishot `accept4(2)` (IORING_ACCEPT_MULTISHOT): one op takes connection after connection on
   * the listening socket `fd`, handing each new socket (close-on-exec) to `onAccepted`. It runs
   * until it fails (rejects; a listener shut down fails with EINVAL) or `options.signal` aborts
   * (rejects with an AbortError). Only where `multishot` is true; elsewhere it rejects with EINVAL.
   */
  acceptMultishot(fd: number, onAccepted: (fd: number) => void, options?: OpOptions): Promise<void> {
    const error = checkFd(fd) ?? (typeof onAccepted === 'function' ? null : invalidArgType('onAccepted', 'of type function', onAccepted))
    if (error) return Promise.reject(error)
    return this.#submitMultishot(native.OpCode.AcceptMulti, Settle.AcceptMulti, 'accept', fd, 0, onAccepted, options)
  }

  /**
   * Multishot `recv(2)` (IORING_RECV_MULTISHOT): one op receives again and again into buffers the
   * ring owns, handing `onChunk` a copy of each receipt (a Buffer of exactly its bytes), in order.
   * Resolves once the peer has shut down its side; rejects on an error, or with an AbortError when
   * `options.signal` aborts (chunks received before the cancel took effect are still handed over).
   * Only where `multishot` is true; elsewhere it rejects with EINVAL.
   */
  recvMultishot(fd: number, onChunk: (chunk: Buffer) => void, options?: OpOptions & { flags?: number }): Promise<void> {
    const error = checkFd(fd) ?? this.#uintError('flags', options?.flags ?? 0) ?? (typeof onChunk === 'function' ? null : invalidArgType('onChunk', 'of type function', onChunk))
    if (error) return Promise.reject(error)
    return this.#submitMultishot(native.OpCode.RecvMulti, Settle.RecvMulti, 'recv', fd, options?.flags ?? 0, onChunk, options)
  }

  #submitMultishot(op: number, settle: Settle, syscall: string, fd: number, flags: number, onItem: (item: any) => void, options?: OpOptions): Promise<void> {
    if (!this.#closed && !this.#multishot) return Promise.reject(systemError(EINVAL, syscall))
    return this.#submit(op, settle, syscall, fd, null, null, 0, -1, flags, 0, options, undefined, undefined, onItem)
  }

  /** `shutdown(2)`: 'read', 'write' or 'both' directions of a connection. */
  shutdown(fd: number, how: 'read' | 'write' | 'both' = 'write', options?: OpOptions): Promise<void> {
    const error = checkFd(fd)
    if (error) return Promise.reject(error)
    const code = how === 'read' ? 0 : how === 'write' ? 1 : how === 'both' ? 2 : -1
    if (code < 0) return Promise.reject(invalidArgValue('how', how, "must be 'read', 'write' or 'both'"))
    return this.#submit(native.OpCode.Shutdown, Settle.Void, 'shutdown', fd, null, null, 0, -1, code, 0, options)
  }

  /** A timer in the ring (IORING_OP_TIMEOUT): resolves after `ms` milliseconds. */
  timeout(ms: number, options?: OpOptions): Promise<void> {
    if (typeof ms !== 'number') return Promise.reject(invalidArgType('ms', 'of type number', ms))
    if (!(ms >= 0) || !Number.isFinite(ms)) return Promise.reject(outOfRange('ms', 'a finite number >= 0', ms))
    return this.#submit(native.OpCode.Timeout, Settle.Timer, 'timeout', 0, null, null, 0, -1, ms, 0, options)
  }

  // ---- life and statistics ---------------------------------------------------------------------

  /** Submits every op started so far now, rather than just before the event loop next waits. */
  flush(): void {
    if (!this.#closed) this.#native.flush()
  }

  /** The ring's counters. */
  stats(): RingStats {
    if (this.#finalStats !== null) return { ...this.#finalStats }
    const stats = this.#native.stats()
    return {
      backend: this.#native.backend,
      submitted: stats.submitted,
      completed: stats.completed,
      inFlight: this.#inFlight,
      waiting: this.#waiting.length,
      flushes: stats.flushes,
      ...(stats.latency ? { latency: stats.latency } : {}),
    }
  }

  /** `await using ring = new Ring()`: closes the ring (as `close()`) when the scope ends. */
  async [asyncDispose](): Promise<void> {
    await this.#closeRing()
  }

  #closeRing(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closed = true
    for (const waiting of this.#waiting.splice(0)) waiting.cancel(systemError(ECANCELED, 'close'))
    this.#closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.#finalStats = this.stats()
        this.#native.destroy()
        resolve()
      }
      if (this.#inFlight === 0) {
        finish()
      } else {
        this.#drained = finish
        this.#native.close()
      }
    })
    return this.#closing
  }

  // ---- submission ------------------------------------------------------------------------------

  #viewsOf(buffers: readonly ArrayBufferView[]): Uint8Array[] | Error {
    if (!Array.isArray(buffers)) return invalidArgType('buffers', 'an instance of Array', buffers)
    const views: Uint8Array[] = []
    for (const buffer of buffers) {
      const view = bytesOf('buffers', buffer)
      if (view instanceof Error) return view
      views.push(view)
    }
    return views
  }

  #uintError(name: string, value: unknown): Error | null {
    if (typeof value !== 'number') return invalidArgType(name, 'of type number', value)
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) return outOfRange(name, '>= 0 && <= 4294967295', value)
    return null
  }

  #submitSized(op: number, syscall: string, fd: number, length: number, at: number, a: number, b: number, options: OpOptions | undefined): Promise<void> {
    return this.#submit(op, Settle.Void, syscall, fd, null, null, length, at, a, b, options)
  }

  #submitPath(
    op: number,
    settle: Settle,
    syscall: string,
    path: PathArgument,
    dest: PathArgument | undefined,
    a: number,
    b: number,
    options: OpOptions | undefined,
  ): Promise<any> {
    return this.#submit(op, settle, syscall, -1, null, null, 0, -1, a, b, options, path, dest)
  }

  /**
   * Starts an op: `target` receives read data, `source` is copied in as write data (or an
   * address), `path` and `dest` are staged as NUL-terminated strings.
   */
  #submit(
    op: number,
    settle: Settle,
    syscall: string,
    fd: number,
    target: Uint8Array | Vector | null,
    source: Uint8Array | null,
    length: number,
    position: number,
    a: number,
    b: number,
    options: OpOptions | undefined,
    path?: PathArgument,
    dest?: PathArgument,
    /** A multishot op's callback for each item (see `#finishMultishot`). */
    onItem?: (item: any) => void,
    /** Counted down as the op settles (see `#submitSocket`); also when it cannot start for want of
     * the ring, memory or its source's bytes (socket ops have no options or paths to reject). */
    inFlight?: InFlight,
  ): Promise<any> {
    if (this.#closed) {
      settled(inFlight, -ECANCELED)
      return Promise.reject(invalidState('the ring is closed'))
    }
    let ordering = 0
    let signal: AbortSignal | undefined
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') return Promise.reject(invalidArgType('options', 'of type object', options))
      ordering = options.ordering ?? 0
      if (ordering !== 0 && ordering !== 1 && ordering !== 2 && ordering !== 3) {
        return Promise.reject(invalidArgValue('options.ordering', ordering, 'must be one of Ordering.None, Link, HardLink or Drain'))
      }
      signal = options.signal
      if (signal !== undefined) {
        if (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean') {
          return Promise.reject(invalidArgType('options.signal', 'an instance of AbortSignal', signal))
        }
        if (signal.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }))
      }
    }
    const slot = this.#takeSlot()
    if (slot === undefined) {
      this.#inFlight++
      return new Promise((resolve, reject) => {
        const waiting: Waiting = {
          start: () => {
            this.#inFlight--
            signal?.removeEventListener('abort', onAbort)
            this.#submit(op, settle, syscall, fd, target, source, length, position, a, b, options, path, dest, onItem, inFlight).then(resolve, reject)
          },
          cancel: (error) => {
            this.#inFlight--
            signal?.removeEventListener('abort', onAbort)
            settled(inFlight, -ECANCELED)
            reject(error)
          },
        }
        const onAbort = (): void => {
          const index = this.#waiting.indexOf(waiting)
          if (index >= 0) this.#waiting.splice(index, 1)
          waiting.cancel(new AbortError(undefined, { cause: signal!.reason }))
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        this.#enqueue(waiting)
      })
    }

    const stageAt = op === OP_SEND || op === OP_RECV ? slot.socketStage : slot.start
    let big = false
    if (path !== undefined) {
      const end = this.#stagePath(path.bytes, slot.start, 0)
      if (end < 0) {
        this.#free.push(slot)
        return Promise.reject(systemError(36 /* ENAMETOOLONG */, syscall, path.text))
      }
      if (dest !== undefined) {
        if (this.#stagePath(dest.bytes, slot.start, end) < 0) {
          this.#free.push(slot)
          return Promise.reject(systemError(36 /* ENAMETOOLONG */, syscall, path.text, dest.text))
        }
        b = end
      }
      length = end
    } else if (length > SLOT_BYTES) {
      if (source !== null && byteLengthOf(source) < length) return this.#sourceGone(slot, syscall, inFlight)
      try {
        this.#native.stageBig(slot.index, length, source)
      } catch (error) {
        this.#free.push(slot)
        settled(inFlight, -ENOMEM)
        return Promise.reject(error)
      }
      big = true
    } else if (source !== null && !this.#stageSource(source, length, stageAt)) {
      return this.#sourceGone(slot, syscall, inFlight)
    }
    if (op === native.OpCode.Statx && path === undefined) length = 0

    slot.begin(settle, syscall, options?.netSyscall, target, stageAt, big)
    slot.path = path?.text
    slot.dest = dest?.text
    slot.onItem = onItem
    // Submitted again from its completion: a partial send's rest, a multishot op re-armed.
    if (settle === Settle.SendAll || onItem !== undefined) slot.continueWith(fd, a, length)
    const promise = this.#start(slot, inFlight, op, fd, length, position, ordering, a, b)
    if (signal !== undefined) this.#watchAbort(slot, signal)
    return promise
  }

  /**
   * The socket ops of `rio-uring/net`, which has checked its arguments already: no options to
   * read, no path to stage, one slot's staging memory. Where that does not fit (no free slot, more
   * than a slot's bytes, a closed ring) they take `#submit`'s general path, with the same result.
   * `inFlight` is counted down as the op settles, before its promise does (so a caller can tell
   * a send has finished without a `then` of its own). Ops without a signal only.
   */
  #submitSocket(
    op: number,
    settle: Settle,
    syscall: string,
    fd: number,
    target: Uint8Array | null,
    source: Uint8Array | null,
    length: number,
    options: OpOptions,
    inFlight: InFlight | undefined,
  ): Promise<any> {
    const slot = this.#closed || length > SLOT_BYTES ? undefined : this.#takeSlot()
    if (slot === undefined) return this.#submit(op, settle, syscall, fd, target, source, length, -1, 0, 0, options, undefined, undefined, undefined, inFlight)
    const stageAt = slot.socketStage
    if (source !== null && !this.#stageSource(source, length, stageAt)) return this.#sourceGone(slot, syscall, inFlight)
    slot.begin(settle, syscall, options.netSyscall, target, stageAt, false)
    if (settle === Settle.SendAll) slot.continueWith(fd, 0, length)
    return this.#start(slot, inFlight, op, fd, length, -1, 0, 0, 0)
  }

  /**
   * Copies the first `length` bytes of `source` into the slab at `offset`: the length measured
   * when the op was made, so a buffer grown since (a resizable one) cannot spill into the next
   * slot. False if it no longer holds that many (detached, transferred or shrunk since then, as
   * can happen while an op waits for a slot).
   */
  #stageSource(source: Uint8Array, length: number, offset: number): boolean {
    const held = byteLengthOf(source)
    if (held < length) return false
    // An empty view over a detached buffer still makes `set` throw, so nothing is copied for it.
    if (length > 0) copyInto(this.#slab, held === length ? source : source.subarray(0, length), offset)
    return true
  }

  /** Gives `slot` back and rejects an op whose source lost its bytes before they were staged. */
  #sourceGone(slot: Slot, syscall: string, inFlight: InFlight | undefined): Promise<never> {
    this.#free.push(slot)
    settled(inFlight, -EINVAL)
    return Promise.reject(
      invalidState(`the buffer given to ${syscall} was detached, transferred or shrunk before its bytes were staged; nothing was written`),
    )
  }

  /**
   * Queues the op whose data is staged in `slot` (and whose completion needs are recorded there)
   * and returns its promise: the part of starting an op that `#submit` and `#submitSocket` share.
   */
  #start(slot: Slot, inFlight: InFlight | undefined, op: number, fd: number, length: number, position: number, ordering: number, a: number, b: number): Promise<any> {
    slot.inFlight = inFlight
    this.#inFlight++
    this.#queue(op, slot, fd, length, position, ordering, a, b)
    return promiseFor(slot)
  }

  /** `recv` for rio-uring/net: `fd` and `view` checked by the caller. @internal */
  netRecv(fd: number, view: Uint8Array, options: OpOptions): Promise<number> {
    return this.#submitSocket(native.OpCode.Recv, Settle.Read, 'recv', fd, view, null, byteLengthOf(view), options, undefined)
  }

  /** `recvChunk` for rio-uring/net. @internal */
  netRecvChunk(fd: number, maxBytes: number, options: OpOptions): Promise<Buffer> {
    return this.#submitSocket(native.OpCode.Recv, Settle.Chunk, 'recv', fd, null, null, maxBytes, options, undefined)
  }

  /**
   * `recvChunk` for rio-uring/net, resolving to an iterator result (done at the end of the
   * stream); `receives` is counted down first. @internal
   */
  netRecvResult(fd: number, maxBytes: number, options: OpOptions, receives: InFlight): Promise<IteratorResult<Buffer, undefined>> {
    return this.#submitSocket(native.OpCode.Recv, Settle.ChunkResult, 'recv', fd, null, null, maxBytes, options, receives)
  }

  /**
   * `sendAll` of `view`'s first `length` bytes (its length when the caller took the send, which
   * it may start later), for rio-uring/net; `sends` is counted down once, as the send settles.
   * @internal
   */
  netSendAll(fd: number, view: Uint8Array, length: number, options: OpOptions, sends: InFlight): Promise<number> {
    return this.#submitSocket(native.OpCode.Send, Settle.SendAll, 'send', fd, null, view, length, options, sends)
  }

  /** A free slot, unless ops are already waiting for one (they go first). */
  #takeSlot(): Slot | undefined {
    return this.#waiting.length === 0 || this.#dispatching ? this.#free.pop() : undefined
  }

  /** Queues an op to start when a slot frees; one put back while dispatching keeps its turn. */
  #enqueue(waiting: Waiting): void {
    if (this.#dispatching) this.#waiting.unshift(waiting)
    else this.#waiting.push(waiting)
  }

  /** Writes an op's descriptor into the control block, for the addon's next flush. */
  #queue(op: number, slot: Slot, fd: number, length: number, position: number, ordering: number, a: number, b: number): void {
    const header = this.#header
    const queued = header[H_QUEUED]
    const d = queued * DESCRIPTOR_FIELDS
    const descriptors = this.#descriptors
    descriptors[d + D_OP] = op
    descriptors[d + D_SLOT] = slot.index
    descriptors[d + D_FD] = fd
    descriptors[d + D_LEN] = length
    descriptors[d + D_POSITION] = position
    descriptors[d + D_ORDERING] = ordering
    descriptors[d + D_ARG_A] = a
    descriptors[d + D_ARG_B] = b
    header[H_QUEUED] = queued + 1
    header[H_IN_FLIGHT] = this.#inFlight
    if (header[H_REFED] === 0) this.#native.ref()
  }

  /** Writes a NUL-terminated path at `offset + at`; the offset just past the NUL, or -1 if too long. */
  #stagePath(bytes: Uint8Array | string, offset: number, at: number): number {
    const room = SLOT_BYTES / 2 - at - 1
    let length: number
    if (typeof bytes === 'string') {
      if (bytes.length * 3 > room && Buffer.byteLength(bytes) > room) return -1
      length = this.#slab.write(bytes, offset + at, 'utf8')
    } else {
      if (bytes.byteLength > room) return -1
      this.#slab.set(bytes, offset + at)
      length = bytes.byteLength
    }
    this.#slab[offset + at + length] = 0
    return at + length + 1
  }

  /** Removes the abort listener of the op in `slot`, if it has one. */
  #unwatchAbort(slot: Slot): void {
    const abort = slot.abort
    if (abort !== undefined) {
      slot.abort = undefined
      abort.signal.removeEventListener('abort', abort.listener)
    }
  }

  #watchAbort(slot: Slot, signal: AbortSignal): void {
    const listener = (): void => {
      slot.abort = undefined
      const reject = slot.orphan()
      // The op may still be queued: submit it so the kernel can cancel it now.
      this.#native.flush()
      this.#native.cancel(slot.index)
      reject(new AbortError(undefined, { cause: signal.reason }))
    }
    slot.abort = { signal, listener }
    signal.addEventListener('abort', listener, { once: true })
  }

  // ---- completion ------------------------------------------------------------------------------

  /** Called by the addon, once per batch, with `count` [slot, result, flags] triples in the control block. */
  readonly #complete = (count: number): void => {
    const completions = this.#completions
    const ops = this.#ops
    for (let i = 0; i < count; i++) {
      const at = COMPLETION_INTS * i
      const slot = ops[completions[at]]
      const settle = slot.settle
      if (settle === Settle.AcceptMulti || settle === Settle.RecvMulti) this.#finishMultishot(slot, completions[at + 1], completions[at + 2])
      else this.#finish(slot, completions[at + 1])
    }
    this.#dispatching = true
    try {
      while (this.#waiting.length > 0 && this.#free.length > 0) this.#waiting.shift()!.start()
    } finally {
      this.#dispatching = false
    }
    this.#header[H_IN_FLIGHT] = this.#inFlight
    if (this.#inFlight === 0 && this.#drained !== null) {
      const drained = this.#drained
      this.#drained = null
      drained()
    }
  }

  #finish(slot: Slot, result: number): void {
    const settle = slot.settle
    if (settle === Settle.SendAll && result > 0 && !slot.orphaned && slot.sent + result < slot.length) {
      // A partial send: send the rest from the same staging memory, same promise.
      const sent = (slot.sent += result)
      this.#queue(native.OpCode.Send, slot, slot.fd, slot.length - sent, -1, 0, slot.flags, sent)
      return
    }
    const resolve = slot.resolve
    const reject = slot.reject
    const target = slot.target
    const inFlight = slot.inFlight
    slot.resolve = noop
    slot.reject = noop
    slot.target = null
    this.#inFlight--
    this.#unwatchAbort(slot)
    if (inFlight !== undefined) {
      slot.inFlight = undefined
      settled(inFlight, result)
    }
    if (slot.orphaned) {
      slot.orphaned = false
      if (slot.big) this.#native.finishBig(slot.index, null, 0)
      this.#free.push(slot)
      return
    }
    if (settle === Settle.BatchRead) {
      this.#finishBatchRead(slot, target as Uint8Array, result)
      return
    }
    if (result === -ETIME && settle === Settle.Timer) result = 0
    if (result < 0) {
      if (slot.big) this.#native.finishBig(slot.index, null, 0)
      this.#free.push(slot)
      const net = slot.netSyscall
      reject(net === undefined ? systemError(-result, slot.syscall, slot.path, slot.dest) : netError(-result, net))
      return
    }
    switch (settle) {
      case Settle.Read: {
        const view = target as Uint8Array
        let intact: boolean
        if (slot.big) {
          intact = this.#native.finishBig(slot.index, view, result)
        } else {
          intact = byteLengthOf(view) >= result
          // A fresh Uint8Array over the slab is the cheapest source for `set` (a Buffer subarray
          // goes through Buffer's species constructor).
          if (intact && result > 0) copyInto(view, new Uint8Array(this.#slabBuffer, slot.stageAt, result), 0)
        }
        this.#free.push(slot)
        if (intact) resolve(result)
        else reject(detachedError(slot.syscall))
        return
      }
      case Settle.ReadV: {
        const { views, lengths } = target as Vector
        const staged = slot.big ? this.#takeBig(slot, result) : new Uint8Array(this.#slabBuffer, slot.stageAt, result)
        if (staged === null) {
          this.#free.push(slot)
          reject(stagingGone(slot.syscall))
          return
        }
        let copied = 0
        let intact = true
        for (let i = 0; i < views.length && copied < result; i++) {
          const part = Math.min(lengths[i], result - copied)
          if (views[i].byteLength < part) {
            intact = false
            break
          }
          views[i].set(staged.subarray(copied, copied + part))
          copied += part
        }
        this.#free.push(slot)
        if (intact) resolve(result)
        else reject(detachedError(slot.syscall))
        return
      }
      case Settle.Chunk:
      case Settle.ChunkResult: {
        const chunk = slot.big ? this.#takeBig(slot, result) : copyOut(this.#slabBuffer, slot.stageAt, result)
        this.#free.push(slot)
        if (chunk === null) reject(stagingGone(slot.syscall))
        else if (settle === Settle.Chunk) resolve(chunk)
        else resolve(result === 0 ? ITERATION_DONE : { value: chunk, done: false })
        return
      }
      case Settle.Count:
        if (slot.big) this.#native.finishBig(slot.index, null, 0)
        this.#free.push(slot)
        resolve(result)
        return
      case Settle.SendAll:
        if (slot.big) this.#native.finishBig(slot.index, null, 0)
        this.#free.push(slot)
        resolve(slot.length)
        return
      case Settle.Void:
      case Settle.Timer:
        this.#free.push(slot)
        resolve(undefined)
        return
      case Settle.Fd:
        this.#free.push(slot)
        resolve(result)
        return
      case Settle.Statx:
      case Settle.StatxBigInt: {
        const stats = this.#readStatx(slot.start + STATX_OFFSET, settle === Settle.StatxBigInt)
        this.#free.push(slot)
        resolve(stats)
        return
      }
      case Settle.Accept: {
        const peer = native.sockaddrDecode(this.#slab.subarray(slot.start, slot.start + 132))
        this.#free.push(slot)
        resolve(peer ? { fd: result, address: peer.address, port: peer.port, family: peer.family } : { fd: result })
        return
      }
    }
  }

  /**
   * The first `count` bytes of `slot`'s big staging buffer, in a new Buffer (the staging buffer is
   * freed). Null if the slot has none any more: the caller must not hand out the unfilled Buffer.
   */
  #takeBig(slot: Slot, count: number): Buffer | null {
    const copy = Buffer.allocUnsafe(count)
    return this.#native.finishBig(slot.index, copy, count) ? copy : null
  }

  /**
   * One completion of a multishot op: an fd or a chunk for its callback (even after an abort: the
   * data is out of the socket, so it must not be dropped), and at the last one (no MORE) either the
   * op is armed again (it stopped for want of buffers, or after a last receipt) or it settles.
   */
  #finishMultishot(slot: Slot, result: number, flags: number): void {
    const settle = slot.settle
    const onItem = slot.onItem!
    const plain = slot.plainRecv
    slot.plainRecv = false
    let failure: unknown = null
    try {
      if (plain && result > 0) {
        onItem(copyOut(this.#slabBuffer, slot.socketStage, result))
      } else if (settle === Settle.RecvMulti && (flags & CQE_F_BUFFER) !== 0 && result > 0) {
        this.#provided ??= this.#native.providedBuffers() as ArrayBuffer
        onItem(copyOut(this.#provided, (flags >>> 16) * PROVIDED_BUFFER_BYTES, result))
      } else if (settle === Settle.AcceptMulti && result >= 0) {
        onItem(result)
      }
    } catch (error) {
      failure = error
    }
    if (failure !== null && !slot.orphaned) {
      // The callback threw: stop the op; its promise rejects with what was thrown.
      const reject = slot.orphan()
      this.#native.cancel(slot.index)
      reject(failure)
    }
    if ((flags & CQE_F_MORE) !== 0) return
    const stopped = slot.orphaned
    if (settle === Settle.RecvMulti && result === -ENOBUFS && !stopped) {
      // Every provided buffer is taken (by receipts not yet handed over): a plain recv makes
      // progress where re-arming would fail again at once.
      slot.plainRecv = true
      this.#queue(native.OpCode.Recv, slot, slot.fd, SLOT_BYTES, -1, 0, slot.flags, 0)
      return
    }
    const rearm = settle === Settle.RecvMulti ? result > 0 : result >= 0
    if (rearm && !stopped) {
      const op = settle === Settle.RecvMulti ? native.OpCode.RecvMulti : native.OpCode.AcceptMulti
      this.#queue(op, slot, slot.fd, 0, -1, 0, slot.flags, 0)
      return
    }
    const resolve = slot.resolve
    const reject = slot.reject
    slot.resolve = noop
    slot.reject = noop
    slot.onItem = undefined
    slot.orphaned = false
    this.#inFlight--
    this.#unwatchAbort(slot)
    this.#free.push(slot)
    if (stopped) return
    if (result >= 0) resolve(undefined)
    else {
      const net = slot.netSyscall
      reject(net === undefined ? systemError(-result, slot.syscall) : netError(-result, net))
    }
  }

  #finishBatchRead(slot: Slot, view: Uint8Array, result: number): void {
    const batch = slot.batch!
    slot.batch = null
    const index = slot.batchIndex
    if (result < 0) {
      batch.error ??= systemError(-result, 'read')
    } else if (byteLengthOf(view) < result) {
      batch.error ??= detachedError('read')
    } else {
      if (result > 0) copyInto(view, new Uint8Array(this.#slabBuffer, slot.start, result), 0)
      batch.results[index] = result
    }
    this.#free.push(slot)
    if (--batch.remaining === 0) {
      if (batch.error) batch.reject(batch.error)
      else batch.resolve(batch.results)
    }
  }

  /** Decodes a `struct statx` from staging memory. */
  #readStatx(at: number, bigint: boolean): Statx<number> | Statx<bigint> {
    const view = this.#slabView
    const u32 = (offset: number): number => view.getUint32(at + offset, true)
    const u64 = (offset: number): bigint => view.getBigUint64(at + offset, true)
    const device = (major: number, minor: number): bigint =>
      ((BigInt(major & 0xfffff000) << 32n) | (BigInt(major & 0xfff) << 8n) | (BigInt(minor & 0xffffff00) << 12n) | BigInt(minor & 0xff))
    const nanos = (offset: number): bigint => view.getBigInt64(at + offset, true) * 1_000_000_000n + BigInt(view.getUint32(at + offset + 8, true))
    const millis = (offset: number): number => Number(view.getBigInt64(at + offset, true)) * 1000 + view.getUint32(at + offset + 8, true) / 1e6
    const mask = u32(0)
    const fields = {
      dev: device(u32(136), u32(140)),
      ino: u64(32),
      mode: BigInt(view.getUint16(at + 28, true)),
      nlink: BigInt(u32(16)),
      uid: BigInt(u32(20)),
      gid: BigInt(u32(24)),
      rdev: device(u32(128), u32(132)),
      size: u64(40),
      blksize: BigInt(u32(4)),
      blocks: u64(48),
      attributes: u64(8),
    }
    const hasBirth = (mask & STATX_BTIME) !== 0
    if (bigint) {
      const ns = { atimeNs: nanos(64), birthtimeNs: hasBirth ? nanos(80) : 0n, ctimeNs: nanos(96), mtimeNs: nanos(112) }
      return {
        mask,
        ...fields,
        atimeMs: ns.atimeNs / 1_000_000n,
        mtimeMs: ns.mtimeNs / 1_000_000n,
        ctimeMs: ns.ctimeNs / 1_000_000n,
        birthtimeMs: ns.birthtimeNs / 1_000_000n,
        ...ns,
      }
    }
    return {
      mask,
      dev: Number(fields.dev),
      ino: Number(fields.ino),
      mode: Number(fields.mode),
      nlink: Number(fields.nlink),
      uid: Number(fields.uid),
      gid: Number(fields.gid),
      rdev: Number(fields.rdev),
      size: Number(fields.size),
      blksize: Number(fields.blksize),
      blocks: Number(fields.blocks),
      attributes: Number(fields.attributes),
      atimeMs: millis(64),
      mtimeMs: millis(112),
      ctimeMs: millis(96),
      birthtimeMs: hasBirth ? millis(80) : 0,
    }
  }
}

let threadRing: Ring | null = null

/**
 * This thread's default ring, made on first use (each worker thread has its own). It is idle-safe:
 * it never holds the process open when nothing is in flight.
 */
export function defaultRing(): Ring {
  if (threadRing === null || threadRing.closed) threadRing = new Ring()
  return threadRing
}

/**
 * `FileHandle`: what `rio-uring/fs`'s `open` gives, with the methods, argument checks and results of
 * Node's `FileHandle`. Reads, writes, syncs, stat, truncate and close go through the ring; what
 * io_uring has no op for (chmod, chown, utimes) goes to Node. Like Node's, a handle counts the ops
 * in flight and closes only after them, and an op on a closed handle rejects with `file closed`
 * before it looks at its arguments.
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer'
import { EventEmitter } from 'node:events'
import * as nodeFs from 'node:fs'
import { constants as osConstants } from 'node:os'
import { createInterface, type Interface } from 'node:readline'
import { ReadableStream, type UnderlyingByteSource, type UnderlyingSource } from 'node:stream/web'
import { promisify } from 'node:util'
import { invalidArgValue, invalidState, systemError, type SystemError } from '../errors.js'
import { asyncDispose } from '../dispose.js'
import type { Ring } from '../ring.js'
import { readFileOptions, readOpenFile, STREAM_CHUNK_BYTES, writeAt, writeContents, writeFileRequest } from './io.js'
import {
  bytesOf,
  filePosition,
  validateBuffer,
  validateBufferArray,
  validateInteger,
  validateNullableObject,
  validateOffsetLengthRead,
  validateOffsetLengthWrite,
  validateString,
  validateStringData,
  writeEncodingOf,
} from './options.js'
import { statsOf } from './stats.js'

const fchmod = promisify(nodeFs.fchmod)
const fchown = promisify(nodeFs.fchown)
const futimes = promisify(nodeFs.futimes)
/** The buffer `read()` allocates when given none, and the chunks of a byte web stream. */
const kReadDefault = 16384
const { S_IFMT, S_IFDIR } = nodeFs.constants
const { EINVAL, EISDIR } = osConstants.errno

export interface ReadResult<T extends ArrayBufferView> {
  bytesRead: number
  buffer: T
}

export interface WriteResult<T> {
  bytesWritten: number
  buffer: T
}

interface ReadOptions<T extends ArrayBufferView> {
  buffer?: T
  offset?: number | null
  length?: number | null
  position?: number | bigint | null
}

interface WriteOptions {
  offset?: number | null
  length?: number | null
  position?: number | bigint | null
}

/** The ring each handle's ops go through: the one that opened it. */
const rings = new WeakMap<FileHandle, Ring>()

/**
 * The ring `handle` was opened on (for the module's functions given a handle).
 * @internal
 */
export function ringOf(handle: FileHandle): Ring {
  return rings.get(handle)!
}

/** Node's error for an op on a closed handle: `syscall` is the name of Node's function for it. */
function closedError(syscall: string): Error {
  const error = new Error('file closed') as Error & { code: string; syscall: string }
  error.code = 'EBADF'
  error.syscall = syscall
  return error
}

type Callback<T extends unknown[] = []> = (error: Error | null, ...results: T) => void

/**
 * The `fs` option of Node's fs streams over `handle`, as Node's `FileHandleOperations`: reads and
 * writes are the handle's own (so they go through the ring and see it closed), closing the stream
 * closes the handle after `release` (the stream's hold on it).
 */
function streamOperations(handle: FileHandle, release: () => void): object {
  return {
    close: (_fd: number, callback: Callback) => {
      release()
      handle.close().then(() => callback(null), callback)
    },
    fsync: (_fd: number, callback: Callback) => {
      handle.sync().then(() => callback(null), callback)
    },
    read: (_fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, callback: Callback<[number, Uint8Array]>) => {
      handle.read<Uint8Array>(buffer, offset, length, position).then((result) => callback(null, result.bytesRead, result.buffer), (error: Error) => callback(error, 0, buffer))
    },
    write: (_fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, callback: Callback<[number, Uint8Array]>) => {
      handle.write(buffer, offset, length, position).then((result) => callback(null, result.bytesWritten, result.buffer), (error: Error) => callback(error, 0, buffer))
    },
    writev: (_fd: number, buffers: Uint8Array[], position: number | null, callback: Callback<[number, Uint8Array[]]>) => {
      handle.writev(buffers, position).then((result) => callback(null, result.bytesWritten, result.buffers), (error: Error) => callback(error, 0, buffers))
    },
  }
}

export class FileHandle extends EventEmitter {
  #fd: number
  /** Ops running on the fd, and open web streams: `close` waits for them, as Node's refcount does. */
  #refs = 0
  #closing: Promise<void> | null = null
  #whenIdle: (() => void) | null = null
  /** A web stream reads the handle: only one may. */
  #locked = false

  /** @internal */
  constructor(fd: number, ring: Ring) {
    super()
    this.#fd = fd
    rings.set(this, ring)
  }

  /** The numeric file descriptor; -1 once closed. */
  get fd(): number {
    return this.#fd
  }

  #ref(): void {
    this.#refs++
  }

  #unref(): void {
    if (--this.#refs === 0 && this.#whenIdle !== null) {
      const whenIdle = this.#whenIdle
      this.#whenIdle = null
      whenIdle()
    }
  }

  /**
   * Node's `fsCall`: runs `op` on the fd, counted so that `close` waits for it. Always a promise;
   * on a closed handle it rejects with `file closed` (EBADF, `syscall`) before `op` checks anything.
   */
  async #call<T>(syscall: string, op: (fd: number, ring: Ring) => Promise<T>): Promise<T> {
    if (this.#fd === -1) throw closedError(syscall)
    this.#ref()
    try {
      return await op(this.#fd, ringOf(this))
    } finally {
      this.#unref()
    }
  }

  /**
   * Reads into `buffer` (default: a new 16 KiB Buffer) at `offset`, `length` bytes from
   * `position` (null: the current position). Also `read({ buffer, offset, length, position })`
   * and `read(buffer, { offset, length, position })`.
   */
  read<T extends ArrayBufferView = Buffer>(
    buffer?: T | ReadOptions<T> | null,
    offset?: number | null | ReadOptions<T>,
    length?: number | null,
    position?: number | bigint | null,
  ): Promise<ReadResult<T>> {
    return this.#call('read', (fd, ring) => read(ring, fd, buffer, offset, length, position))
  }

  /**
   * Writes `buffer` (`offset`, `length` bytes, at `position`), or a string (at `position`, in
   * `encoding`). Resolves to `{ bytesWritten, buffer }`.
   */
  write<T extends ArrayBufferView | string>(
    buffer: T,
    offsetOrPosition?: number | bigint | null | WriteOptions,
    lengthOrEncoding?: number | BufferEncoding | null,
    position?: number | bigint | null,
  ): Promise<WriteResult<T>> {
    return this.#call('write', (fd, ring) => write(ring, fd, buffer, offsetOrPosition, lengthOrEncoding, position))
  }

  /** Reads into the buffers in order (`preadv`). */
  readv<T extends readonly ArrayBufferView[]>(buffers: T, position?: number | bigint | null): Promise<{ bytesRead: number; buffers: T }> {
    return this.#call('readv', async (fd, ring) => {
      validateBufferArray(buffers)
      // libuv refuses a read into no buffers.
      if (buffers.length === 0) throw systemError(EINVAL, 'read')
      const at = filePosition(position)
      const empty = buffers.every((buffer) => buffer.byteLength === 0)
      const bytesRead = empty ? await readNothing(ring, fd, buffers.length, at) : await ring.readvAt(fd, buffers, at)
      return { __proto__: null, bytesRead, buffers }
    })
  }

  /** Writes the buffers in order (`pwritev`). */
  writev<T extends readonly ArrayBufferView[]>(buffers: T, position?: number | bigint | null): Promise<{ bytesWritten: number; buffers: T }> {
    return this.#call('writev', async (fd, ring) => {
      validateBufferArray(buffers)
      const bytesWritten = buffers.length === 0 ? 0 : await ring.writevAt(fd, buffers, filePosition(position))
      return { __proto__: null, bytesWritten, buffers }
    })
  }

  /** The rest of the file from the current position, as a Buffer or (with an encoding) a string. */
  readFile(options?: { encoding?: null; flag?: string | number; signal?: AbortSignal } | null): Promise<NonSharedBuffer>
  readFile(options: BufferEncoding | { encoding: BufferEncoding; flag?: string | number; signal?: AbortSignal }): Promise<string>
  readFile(options?: BufferEncoding | { encoding?: BufferEncoding | null; flag?: string | number; signal?: AbortSignal } | null): Promise<NonSharedBuffer | string>
  readFile(options?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<Buffer | string> {
    return this.#call('readFile', (fd, ring) => readOpenFile(ring, fd, readFileOptions(options), false))
  }

  /**
   * Writes `data` at the current position (a string in `encoding`, or an (async) iterable of
   * chunks). As Node's, a handle ignores the `flag`, `mode` and `flush` options.
   */
  writeFile(data: unknown, options?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<void> {
    return this.#call('writeFile', (fd, ring) => writeContents(ring, fd, writeFileRequest(data, options, 'w'), false))
  }

  /** Same as `writeFile` (a handle opened for appending appends). */
  appendFile(data: unknown, options?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<void> {
    return this.writeFile(data, options)
  }

  /** `fstat` through the ring: an `fs.Stats` (or `BigIntStats` with `bigint: true`). */
  stat(options?: { bigint?: false }): Promise<nodeFs.Stats>
  stat(options: { bigint: true }): Promise<nodeFs.BigIntStats>
  stat(options?: { bigint?: boolean }): Promise<nodeFs.Stats | nodeFs.BigIntStats>
  stat(options: { bigint?: boolean } = { bigint: false }): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
    return this.#call('fstat', (fd, ring) => statsOf(ring, fd, options.bigint === true, true, 'fstat'))
  }

  /** Truncates (or extends) the file to `len` bytes. */
  truncate(len: number = 0): Promise<void> {
    return this.#call('ftruncate', (fd, ring) => ftruncate(ring, fd, len))
  }

  sync(): Promise<void> {
    return this.#call('fsync', (fd, ring) => ring.fsync(fd))
  }

  datasync(): Promise<void> {
    return this.#call('fdatasync', (fd, ring) => ring.fdatasync(fd))
  }

  /** `fchmod` (no io_uring op: done by Node). */
  chmod(mode: number | string): Promise<void> {
    return this.#call('fchmod', (fd) => fchmod(fd, mode))
  }

  /** `fchown` (no io_uring op: done by Node). */
  chown(uid: number, gid: number): Promise<void> {
    return this.#call('fchown', (fd) => fchown(fd, uid, gid))
  }

  /** `futimes` (no io_uring op: done by Node). */
  utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.#call('futimes', (fd) => futimes(fd, atime, mtime))
  }

  /** A readable stream of the file (Node's `fs.ReadStream`, reading through the ring). */
  createReadStream(options: { encoding?: BufferEncoding; autoClose?: boolean; emitClose?: boolean; start?: number; end?: number; highWaterMark?: number; signal?: AbortSignal } = {}): nodeFs.ReadStream {
    return this.#stream((streamOptions) => nodeFs.createReadStream('', { ...options, ...streamOptions } as never))
  }

  /** A writable stream to the file (Node's `fs.WriteStream`, writing through the ring). */
  createWriteStream(options: { encoding?: BufferEncoding; autoClose?: boolean; emitClose?: boolean; start?: number; highWaterMark?: number; flush?: boolean } = {}): nodeFs.WriteStream {
    return this.#stream((streamOptions) => nodeFs.createWriteStream('', { ...options, ...streamOptions } as never))
  }

  /**
   * A Node fs stream over this handle, as Node makes one of a FileHandle: the stream holds the
   * handle open until it closes, and closing the handle closes the stream.
   */
  #stream<S extends { close(): void }>(create: (options: { fd: number; fs: object }) => S): S {
    this.#ref()
    let held = true
    const release = (): void => {
      if (held) this.#unref()
      held = false
    }
    const stream = create({ fd: this.#fd, fs: streamOperations(this, release) })
    this.on('close', () => stream.close())
    return stream
  }

  /** The file's lines, from the current position (`readline` over `createReadStream`). */
  readLines(options?: Parameters<FileHandle['createReadStream']>[0]): Interface {
    return createInterface({ input: this.createReadStream(options), crlfDelay: Infinity })
  }

  /**
   * The file as a web `ReadableStream`, from the current position: of ArrayBuffers, or with
   * `type: 'bytes'` a byte stream, as Node's. The stream holds the handle open until it ends (the
   * handle stays open then); closing the handle ends the stream. Throws at once if the handle is
   * closed, closing, or already read by a web stream.
   */
  readableWebStream(options: { type?: string } = {}): ReadableStream {
    if (this.#fd === -1) throw invalidState('The FileHandle is closed')
    if (this.#closing !== null) throw invalidState('The FileHandle is closing')
    if (this.#locked) throw invalidState('The FileHandle is locked')
    this.#locked = true
    if (options.type !== undefined) validateString(options.type, 'options.type')
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      this.#unref()
    }
    let controller: { close(): void } | undefined
    const source = options.type === 'bytes' ? this.#byteSource(finish) : this.#arrayBufferSource(finish)
    const stream = new ReadableStream({ ...source, start: (started: { close(): void }) => void (controller = started) } as UnderlyingSource)
    this.#ref()
    this.once('close', () => {
      if (finished) return
      // Node cancels the stream; a reader sees its end.
      try {
        controller?.close()
      } catch {}
      finish()
    })
    return stream
  }

  /** Reads of ArrayBuffers at the current position (Node's stream of a FileHandle). */
  #arrayBufferSource(finish: () => void): UnderlyingSource<ArrayBuffer> {
    const ring = ringOf(this)
    return {
      pull: async (controller) => {
        const chunk = new ArrayBuffer(STREAM_CHUNK_BYTES)
        const read = await ring.readAt(this.#fd, new Uint8Array(chunk), -1)
        if (read === 0) {
          controller.close()
          finish()
        } else {
          controller.enqueue(read === chunk.byteLength ? chunk : chunk.slice(0, read))
        }
      },
      cancel: finish,
    }
  }

  /** A byte stream's source, filled by `read` (Node's `type: 'bytes'` stream). */
  #byteSource(finish: () => void): UnderlyingByteSource {
    return {
      type: 'bytes',
      autoAllocateChunkSize: kReadDefault,
      pull: async (controller) => {
        const view = controller.byobRequest!.view as Uint8Array
        // As Node's: the view's own byteOffset is passed as the offset into it.
        const { bytesRead } = await this.read(view, view.byteOffset, view.byteLength)
        if (bytesRead === 0) {
          finish()
          controller.close()
        }
        controller.byobRequest!.respond(bytesRead)
      },
      cancel: finish,
    }
  }

  /**
   * Closes the fd through the ring, once the ops in flight on it are done (ops started meanwhile
   * still run, as in Node). Emits 'close' at once. Closing a closed handle resolves. As Node's, a
   * bound function of its own, so `finally(handle.close)` works.
   */
  readonly close = (): Promise<void> => {
    if (this.#fd === -1) return Promise.resolve()
    if (this.#closing !== null) return this.#closing
    // Once idle, the fd is -1 at once (as in Node), not a tick later.
    const closed = this.#refs === 0 ? this.#closeFd() : new Promise<void>((resolve, reject) => (this.#whenIdle = () => this.#closeFd().then(resolve, reject)))
    this.#closing = closed.finally(() => (this.#closing = null))
    this.emit('close')
    return this.#closing
  }

  #closeFd(): Promise<void> {
    const fd = this.#fd
    this.#fd = -1
    return ringOf(this).close(fd)
  }

  async [asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * An options object's `offset`, `length` and `position`, with Node's defaults (for undefined only:
 * null stays null); the default length is the rest of `buffer` after the offset.
 */
function rangeOf(options: { offset?: unknown; length?: unknown; position?: unknown }, buffer: ArrayBufferView): { offset: unknown; length: unknown; position: unknown } {
  const { offset = 0, position = null } = options
  const { length = buffer.byteLength - (offset as number) } = options
  return { offset, length, position }
}

/** Node's `read` of a FileHandle, its quirks included (an options object replaces every later argument). */
async function read<T extends ArrayBufferView>(
  ring: Ring,
  fd: number,
  bufferOrOptions: T | ReadOptions<T> | null | undefined,
  offsetOrOptions: number | null | undefined | ReadOptions<T>,
  lengthArgument: number | null | undefined,
  positionArgument: number | bigint | null | undefined,
): Promise<ReadResult<T>> {
  let buffer = bufferOrOptions as ArrayBufferView
  let offset: unknown = offsetOrOptions
  let length: unknown = lengthArgument
  let position: unknown = positionArgument
  if (!ArrayBuffer.isView(bufferOrOptions)) {
    if (bufferOrOptions !== undefined) validateNullableObject(bufferOrOptions, 'options')
    const options: ReadOptions<T> = bufferOrOptions ?? {}
    buffer = options.buffer === undefined ? Buffer.alloc(kReadDefault) : options.buffer
    ;({ offset, length, position } = rangeOf(options, buffer))
    validateBuffer(buffer)
  }
  if (offset !== null && typeof offset === 'object') ({ offset, length, position } = rangeOf(offset, buffer))
  const start = offset == null ? 0 : validateInteger(offset, 'offset', 0)
  length ??= buffer.byteLength - start
  const result = { __proto__: null, bytesRead: 0, buffer } as unknown as ReadResult<T>
  if (length === 0) return result
  if (buffer.byteLength === 0) throw invalidArgValue('buffer', buffer, 'is empty and cannot be written')
  validateOffsetLengthRead(start, length as number, buffer.byteLength)
  result.bytesRead = await ring.readAt(fd, bytesOf(buffer).subarray(start, start + (length as number)), filePosition(position))
  return result
}

/** Node's `write` of a FileHandle: bytes (`offset`, `length`, `position`), or a string (`position`, `encoding`). */
async function write<T extends ArrayBufferView | string>(
  ring: Ring,
  fd: number,
  buffer: T,
  offsetOrOptions: number | bigint | null | undefined | WriteOptions,
  lengthOrEncoding: number | string | null | undefined,
  positionArgument: number | bigint | null | undefined,
): Promise<WriteResult<T>> {
  const result = { __proto__: null, bytesWritten: 0, buffer } as unknown as WriteResult<T>
  // Nothing to write from an empty view: no write(2) (a 0-byte write of a longer view, or of '', makes one).
  if ((buffer as { byteLength?: number } | null | undefined)?.byteLength === 0) return result
  let bytes: Uint8Array
  let position: unknown
  if (ArrayBuffer.isView(buffer)) {
    let offset: unknown = offsetOrOptions
    let length: unknown = lengthOrEncoding
    position = positionArgument
    // null reads as an empty options object, as in Node.
    if (typeof offset === 'object') ({ offset, length, position } = rangeOf(offset ?? {}, buffer))
    const start = offset == null ? 0 : validateInteger(offset, 'offset', 0)
    const count = typeof length === 'number' ? length : buffer.byteLength - start
    validateOffsetLengthWrite(start, count, buffer.byteLength)
    bytes = bytesOf(buffer).subarray(start, start + count)
  } else {
    validateStringData(buffer, 'buffer')
    bytes = Buffer.from(buffer, writeEncodingOf(buffer, lengthOrEncoding))
    position = offsetOrOptions
  }
  result.bytesWritten = await writeAt(ring, fd, bytes, filePosition(position))
  return result
}

/**
 * A readv of 0 bytes, as libuv makes it: read(2) for one buffer, which fails EISDIR on a
 * directory, preadv(2) for several, which does not. Both fail EBADF on a handle not open for
 * reading. The ring's backends differ here (io_uring reads 0 bytes of a directory, the threads
 * backend fails EISDIR), so a 0-byte read checks the handle and the file's type decides.
 */
async function readNothing(ring: Ring, fd: number, bufferCount: number, position: number): Promise<number> {
  await ring.readAt(fd, new Uint8Array(0), position).catch((error: SystemError) => {
    if (error.code !== 'EISDIR') throw error
  })
  if (bufferCount > 1) return 0
  const { mode } = await ring.statx(fd, { syscall: 'read' })
  if ((mode & S_IFMT) === S_IFDIR) throw systemError(EISDIR, 'read')
  return 0
}

/**
 * `ftruncate` to `len` bytes, checked as Node (a negative length is 0).
 * @internal
 */
export function ftruncate(ring: Ring, fd: number, len: unknown): Promise<void> {
  return ring.ftruncate(fd, Math.max(0, validateInteger(len, 'len')))
}

/**
 * `FileHandle`: what `rio-uring/fs`'s `open` gives, with the methods and results of Node's
 * `FileHandle`. Reads, writes, syncs, stat, truncate and close go through the ring; what io_uring
 * has no op for (chmod, chown, utimes) goes to Node. Like Node's, a handle counts the ops in
 * flight and closes only after them, and an op on a closed handle fails with EBADF.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events'
import * as nodeFs from 'node:fs'
import { promisify } from 'node:util'
import { createInterface, type Interface } from 'node:readline'
import { invalidArgType } from '../errors.js'
import type { Ring } from '../ring.js'
import { readWhole, writeWhole } from './io.js'
import { checkEncoding, integerOf, optionsOf, positionOf, viewOf } from './options.js'
import { toStats } from './stats.js'

const fchmod = promisify(nodeFs.fchmod)
const fchown = promisify(nodeFs.fchown)
const futimes = promisify(nodeFs.futimes)
const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
const kReadDefault = 16384

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
  offset?: number
  length?: number
  position?: number | bigint | null
}

/** Which handles the module made: only those may be read or written without positions. */
const ringOf = new WeakMap<FileHandle, Ring>()

/** Node's error for an op on a closed handle. */
function closedError(syscall: string): Error {
  const error = new Error('file closed') as Error & { code: string; syscall: string }
  error.code = 'EBADF'
  error.syscall = syscall
  return error
}

/** Ring-backed callbacks for Node's fs streams (their `fs` option). */
function streamFs(handle: FileHandle, ring: Ring): object {
  const done = <T>(promise: Promise<T>, callback: (error: Error | null, value?: T) => void): void => {
    promise.then((value) => callback(null, value), (error: Error) => callback(error))
  }
  return {
    open: (_path: unknown, _flags: unknown, _mode: unknown, callback: (error: Error | null, fd?: number) => void) => callback(null, handle.fd),
    read: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, callback: (error: Error | null, read?: number, buffer?: Uint8Array) => void) => {
      ring.readAt(fd, buffer.subarray(offset, offset + length), position ?? -1).then((read) => callback(null, read, buffer), callback)
    },
    write: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, callback: (error: Error | null, written?: number) => void) => {
      done(ring.writeAt(fd, buffer.subarray(offset, offset + length), position ?? -1), callback)
    },
    writev: (fd: number, buffers: Uint8Array[], position: number | null, callback: (error: Error | null, written?: number) => void) => {
      done(ring.writevAt(fd, buffers, position ?? -1), callback)
    },
    close: (_fd: number, callback: (error: Error | null) => void) => {
      handle.close().then(() => callback(null), callback)
    },
  }
}

export class FileHandle extends EventEmitter {
  #fd: number
  #inFlight = 0
  #closing: Promise<void> | null = null
  #whenIdle: (() => void) | null = null

  /** @internal */
  constructor(fd: number, ring: Ring) {
    super()
    this.#fd = fd
    ringOf.set(this, ring)
  }

  /** The numeric file descriptor; -1 once closed. */
  get fd(): number {
    return this.#fd
  }

  /** Runs an op on the fd, counted so `close` waits for it; fails with EBADF once closed. */
  async #use<T>(syscall: string, op: (fd: number, ring: Ring) => Promise<T>): Promise<T> {
    if (this.#fd === -1 || this.#closing !== null) throw closedError(syscall)
    this.#inFlight++
    try {
      return await op(this.#fd, ringOf.get(this)!)
    } finally {
      if (--this.#inFlight === 0 && this.#whenIdle !== null) this.#whenIdle()
    }
  }

  /**
   * Reads into `buffer` (default: a new 16 KiB Buffer) at `offset`, `length` bytes from
   * `position` (null: the current position). Also `read({ buffer, offset, length, position })`
   * and `read(buffer, { offset, length, position })`.
   */
  read<T extends ArrayBufferView = Buffer>(
    buffer?: T | ReadOptions<T>,
    offset?: number | ReadOptions<T>,
    length?: number,
    position?: number | bigint | null,
  ): Promise<ReadResult<T>> {
    return this.#use('read', async (fd, ring) => {
      let target = buffer as T | undefined
      if (buffer != null && !ArrayBuffer.isView(buffer)) {
        ;({ buffer: target, offset, length, position } = buffer as ReadOptions<T>)
      } else if (offset != null && typeof offset === 'object') {
        ;({ offset, length, position } = offset as ReadOptions<T>)
      }
      const view = viewOf('buffer', target ?? Buffer.alloc(kReadDefault))
      const chosen = (target ?? view) as T
      const start = offset == null ? 0 : integerOf('offset', offset, 0, view.byteLength)
      const count = length == null ? view.byteLength - start : integerOf('length', length, 0, view.byteLength - start)
      if (count === 0) return { bytesRead: 0, buffer: chosen }
      const bytesRead = await ring.readAt(fd, view.subarray(start, start + count), positionOf(position) ?? -1)
      return { bytesRead, buffer: chosen }
    })
  }

  /**
   * Writes `buffer` (`offset`, `length` bytes, at `position`), or a string (at `position`, in
   * `encoding`). Resolves to `{ bytesWritten, buffer }`.
   */
  write<T extends ArrayBufferView | string>(
    buffer: T,
    offsetOrPosition?: number | null | { offset?: number; length?: number; position?: number | null },
    lengthOrEncoding?: number | BufferEncoding | null,
    position?: number | bigint | null,
  ): Promise<WriteResult<T>> {
    return this.#use('write', async (fd, ring) => {
      let bytes: Uint8Array
      let at: number | bigint | null
      if (typeof buffer === 'string') {
        at = positionOf(offsetOrPosition)
        bytes = Buffer.from(buffer, lengthOrEncoding == null ? 'utf8' : checkEncoding(lengthOrEncoding))
      } else {
        const view = viewOf('buffer', buffer)
        let offset = offsetOrPosition as number | null | undefined
        let length = lengthOrEncoding as number | null | undefined
        if (offsetOrPosition != null && typeof offsetOrPosition === 'object') {
          ;({ offset, length, position } = offsetOrPosition)
        }
        const start = offset == null ? 0 : integerOf('offset', offset, 0, view.byteLength)
        const count = length == null ? view.byteLength - start : integerOf('length', length, 0, view.byteLength - start)
        bytes = view.subarray(start, start + count)
        at = positionOf(position)
      }
      if (bytes.byteLength === 0) return { bytesWritten: 0, buffer }
      const bytesWritten = await ring.writeAt(fd, bytes, at ?? -1)
      return { bytesWritten, buffer }
    })
  }

  /** Reads into the buffers in order (`preadv`). */
  readv<T extends ArrayBufferView[]>(buffers: T, position?: number | bigint | null): Promise<{ bytesRead: number; buffers: T }> {
    return this.#use('read', async (fd, ring) => ({ bytesRead: await ring.readvAt(fd, buffers, positionOf(position) ?? -1), buffers }))
  }

  /** Writes the buffers in order (`pwritev`). */
  writev<T extends ArrayBufferView[]>(buffers: T, position?: number | bigint | null): Promise<{ bytesWritten: number; buffers: T }> {
    return this.#use('write', async (fd, ring) => ({ bytesWritten: await ring.writevAt(fd, buffers, positionOf(position) ?? -1), buffers }))
  }

  /** The rest of the file from the current position, as a Buffer or (with an encoding) a string. */
  readFile(options?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<Buffer | string> {
    const { encoding, signal } = optionsOf<{ encoding?: BufferEncoding | null; signal?: AbortSignal }>(options, {})
    return this.#use('read', async (fd, ring) => {
      const data = await readWhole(ring, fd, false, signal)
      return encoding ? data.toString(encoding) : data
    })
  }

  /** Writes `data` at the current position (a string in `encoding`, or an (async) iterable of chunks). */
  writeFile(data: unknown, options?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<void> {
    const { encoding, signal } = optionsOf<{ encoding?: BufferEncoding | null; signal?: AbortSignal }>(options, { encoding: 'utf8' })
    return this.#use('write', (fd, ring) => writeData(ring, fd, data, encoding ?? 'utf8', false, signal))
  }

  /** Same as `writeFile` (a handle opened for appending appends). */
  appendFile(data: unknown, options?: BufferEncoding | { encoding?: BufferEncoding | null; signal?: AbortSignal } | null): Promise<void> {
    return this.writeFile(data, options)
  }

  /** `fstat` through the ring: an `fs.Stats` (or `BigIntStats` with `bigint: true`). */
  stat(options?: { bigint?: boolean }): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
    const bigint = options?.bigint === true
    return this.#use('fstat', async (fd, ring) =>
      toStats(bigint ? await ring.statx(fd, { bigint: true, syscall: 'fstat' }) : await ring.statx(fd, { syscall: 'fstat' }), bigint))
  }

  /** Truncates (or extends) the file to `len` bytes. */
  truncate(len = 0): Promise<void> {
    return this.#use('ftruncate', (fd, ring) => ring.ftruncate(fd, Math.max(0, integerOf('len', len, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))))
  }

  sync(): Promise<void> {
    return this.#use('fsync', (fd, ring) => ring.fsync(fd))
  }

  datasync(): Promise<void> {
    return this.#use('fdatasync', (fd, ring) => ring.fdatasync(fd))
  }

  /** `fchmod` (no io_uring op: done by Node). */
  chmod(mode: number | string): Promise<void> {
    return this.#use('fchmod', (fd) => fchmod(fd, mode))
  }

  /** `fchown` (no io_uring op: done by Node). */
  chown(uid: number, gid: number): Promise<void> {
    return this.#use('fchown', (fd) => fchown(fd, uid, gid))
  }

  /** `futimes` (no io_uring op: done by Node). */
  utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.#use('futime', (fd) => futimes(fd, atime, mtime))
  }

  /** A readable stream of the file (Node's `fs.ReadStream`, reading through the ring). */
  createReadStream(options: { encoding?: BufferEncoding; autoClose?: boolean; emitClose?: boolean; start?: number; end?: number; highWaterMark?: number; signal?: AbortSignal } = {}): nodeFs.ReadStream {
    return nodeFs.createReadStream('', { ...options, fd: this.#fd, fs: streamFs(this, ringOf.get(this)!) } as never)
  }

  /** A writable stream to the file (Node's `fs.WriteStream`, writing through the ring). */
  createWriteStream(options: { encoding?: BufferEncoding; autoClose?: boolean; emitClose?: boolean; start?: number; highWaterMark?: number; flush?: boolean } = {}): nodeFs.WriteStream {
    return nodeFs.createWriteStream('', { ...options, fd: this.#fd, fs: streamFs(this, ringOf.get(this)!) } as never)
  }

  /** The file's lines, from the current position (`readline` over `createReadStream`). */
  readLines(options?: Parameters<FileHandle['createReadStream']>[0]): Interface {
    return createInterface({ input: this.createReadStream(options), crlfDelay: Infinity })
  }

  /** The file as a web `ReadableStream` of bytes, from the current position. */
  readableWebStream(): ReadableStream<Uint8Array> {
    return new ReadableStream({
      type: 'bytes',
      pull: async (controller) => {
        const chunk = new Uint8Array(kReadDefault * 4)
        const { bytesRead } = await this.read(chunk, 0, chunk.byteLength, null)
        if (bytesRead === 0) {
          controller.close()
          await this.close()
        } else {
          controller.enqueue(chunk.subarray(0, bytesRead))
        }
      },
      cancel: () => this.close(),
    })
  }

  /** Closes the fd through the ring, after the ops in flight on it. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    if (this.#fd === -1) return Promise.resolve()
    this.#closing = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#whenIdle = resolve))
      const fd = this.#fd
      this.#fd = -1
      try {
        await ringOf.get(this)!.close(fd)
      } finally {
        this.emit('close')
      }
    })()
    return this.#closing
  }

  async [asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * Writes `data` (string, bytes, or an iterable or async iterable of either) to `fd`.
 * `positional`: the file was just opened (and truncated) here, so big buffers go in parallel.
 */
export async function writeData(ring: Ring, fd: number, data: unknown, encoding: BufferEncoding, positional: boolean, signal?: AbortSignal): Promise<void> {
  if (typeof data === 'string') return writeWhole(ring, fd, Buffer.from(data, encoding), positional, signal)
  if (ArrayBuffer.isView(data)) return writeWhole(ring, fd, viewOf('data', data), positional, signal)
  if (data != null && typeof data === 'object' && (Symbol.asyncIterator in data || Symbol.iterator in data)) {
    for await (const chunk of data as AsyncIterable<unknown>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : viewOf('data', chunk)
      await writeWhole(ring, fd, bytes, false, signal)
    }
    return
  }
  throw invalidArgType('data', 'of type string or an instance of Buffer, TypedArray, or DataView', data)
}

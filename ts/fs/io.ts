/**
 * Whole-file reads and writes over a ring: what `readFile`, `writeFile` and `copyFile` (of the module
 * and of `FileHandle`) share, with the checks Node makes of their arguments. A file opened here is
 * read or written in parallel chunks at explicit offsets; a `FileHandle` the caller gave is read or
 * written at its current position, in order, as Node does.
 * @packageDocumentation
 */
import { Buffer, constants as bufferConstants } from 'node:buffer'
import { constants as fsConstants } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { systemError, unknownEncoding } from '../errors.js'
import type { Ring } from '../ring.js'
import { bytesOf, checkAborted, optionsOf, validateBoolean, validateStringData, type EncodingOption, type SignalOption } from './options.js'

/** Bytes per chunk of a parallel whole-file read or write, and how many are in flight. */
const CHUNK_BYTES = 1 << 20
const CHUNKS_IN_FLIGHT = 8
/** What one read of a file with no size (a pipe, /proc) asks for. */
export const STREAM_CHUNK_BYTES = 64 << 10
/** Node's limit on a file read whole (kIoMaxLength). */
const MAX_FILE_BYTES = 2 ** 31 - 1
const { S_IFMT, S_IFREG } = fsConstants
const { EBADF } = osConstants.errno

function tooLarge(size: number): RangeError {
  const error = new RangeError(`File size (${size}) is greater than 2 GiB`) as RangeError & { code: string }
  error.code = 'ERR_FS_FILE_TOO_LARGE'
  return error
}

/**
 * Runs `task(i)` for i in [0, count) with at most `limit` at once. The first failure wins, but only
 * once every task already started has settled and no new one starts: the caller closes the fd when
 * this rejects, and a straggler must not read or write a number the kernel may have handed out again.
 * @internal
 */
export async function inParallel(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (next < count && !failed) {
      try {
        await task(next++)
      } catch (error) {
        failed = true
        throw error
      }
    }
  }
  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(limit, count) }, worker))
  const failure = outcomes.find((outcome) => outcome.status === 'rejected')
  if (failure) throw (failure as PromiseRejectedResult).reason
}

/**
 * `write(2)` of `bytes` at `position` (-1: the current one). A closed FileHandle has fd -1, which
 * Node's binding hands to the kernel (EBADF) where the ring refuses it as an argument.
 */
export function writeAt(ring: Ring, fd: number, bytes: Uint8Array, position: number): Promise<number> {
  return fd === -1 ? Promise.reject(systemError(EBADF, 'write')) : ring.writeAt(fd, bytes, position)
}

// ---- reading ---------------------------------------------------------------------------------

export interface ReadFileOptions extends EncodingOption, SignalOption {
  flag?: unknown
}

/** `readFile`'s options, checked as Node checks them. */
export function readFileOptions(options: unknown): ReadFileOptions {
  return optionsOf<ReadFileOptions>(options, { flag: 'r' })
}

/**
 * The rest of an open file, as Node's `readFileHandle` reads it: a Buffer, or a string in the
 * encoding. `positional`: the file was opened here, so it is read from offset 0 in parallel.
 */
export async function readOpenFile(ring: Ring, fd: number, options: ReadFileOptions, positional: boolean): Promise<Buffer | string> {
  const { encoding, signal } = options
  // Node's decoder refuses 'buffer' (which its option check lets through) once the file is open.
  if (encoding && !Buffer.isEncoding(encoding)) throw unknownEncoding(encoding)
  checkAborted(signal)
  const data = await readWhole(ring, fd, positional, signal)
  return encoding ? data.toString(encoding) : data
}

/**
 * The whole file. `positional`: the ring opened it, so it is read from offset 0 in parallel
 * chunks; otherwise from the current position onwards, in order. As Node, a regular file is read
 * up to the size it had when the read began (less if it shrank); a file without a size until EOF.
 */
async function readWhole(ring: Ring, fd: number, positional: boolean, signal?: AbortSignal): Promise<Buffer> {
  const stat = await ring.statx(fd, { syscall: 'fstat' })
  const size = (stat.mode & S_IFMT) === S_IFREG ? stat.size : 0
  if (size > MAX_FILE_BYTES) throw tooLarge(size)
  checkAborted(signal)
  if (size === 0) return readStream(ring, fd, signal)
  const buffer = Buffer.allocUnsafeSlow(size)
  if (!positional) {
    let filled = 0
    while (filled < size) {
      const read = await ring.readAt(fd, buffer.subarray(filled), -1)
      if (read === 0) break
      filled += read
      checkAborted(signal)
    }
    return filled === size ? buffer : buffer.subarray(0, filled)
  }
  const end = await readChunks(ring, fd, buffer, signal)
  return end === size ? buffer : buffer.subarray(0, end)
}

/**
 * Fills `buffer` from offset 0 of `fd` in parallel chunks. Resolves to how much was read: less
 * than the buffer if the file ended sooner (it shrank).
 */
async function readChunks(ring: Ring, fd: number, buffer: Uint8Array, signal?: AbortSignal): Promise<number> {
  const size = buffer.byteLength
  let end = size
  await inParallel(Math.ceil(size / CHUNK_BYTES), CHUNKS_IN_FLIGHT, async (index) => {
    let at = index * CHUNK_BYTES
    const chunkEnd = Math.min(size, at + CHUNK_BYTES)
    while (at < chunkEnd && at < end) {
      const read = await ring.readAt(fd, buffer.subarray(at, chunkEnd), at)
      if (read === 0) {
        end = Math.min(end, at) // the file shrank: what follows is gone too
        return
      }
      at += read
    }
    checkAborted(signal)
  })
  return end
}

async function readStream(ring: Ring, fd: number, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for (;;) {
    const chunk = Buffer.allocUnsafe(STREAM_CHUNK_BYTES)
    const read = await ring.readAt(fd, chunk, -1)
    if (read === 0) break
    chunks.push(read === chunk.length ? chunk : chunk.subarray(0, read))
    total += read
    if (total > bufferConstants.MAX_LENGTH) throw tooLarge(total)
    checkAborted(signal)
  }
  return Buffer.concat(chunks, total)
}

// ---- writing ---------------------------------------------------------------------------------

/** What `writeFile` writes: bytes, or an iterable (sync or async) of chunks. */
type Contents = Uint8Array | Iterable<unknown> | AsyncIterable<unknown>

/** A `writeFile` call with its arguments checked, before anything is opened. */
export interface WriteFileRequest {
  contents: Contents
  /** The encoding of string chunks of an iterable. */
  encoding: BufferEncoding | undefined
  signal: AbortSignal | undefined
  flag: unknown
  mode: unknown
  flush: boolean
}

interface WriteFileOptions extends EncodingOption, SignalOption {
  mode?: unknown
  flag?: unknown
  flush?: unknown
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  if (value == null) return false
  const object = value as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown }
  return typeof object[Symbol.asyncIterator] === 'function' || typeof object[Symbol.iterator] === 'function'
}

/**
 * Node's `writeFile` checks, in its order, before it opens anything: the options, `flush`, then the
 * data (a string becomes bytes in the encoding here, so a bad one fails before the file is touched).
 */
export function writeFileRequest(data: unknown, options: unknown, defaultFlag: string): WriteFileRequest {
  const checked = optionsOf<WriteFileOptions>(options, { encoding: 'utf8', mode: 0o666, flag: defaultFlag, flush: false })
  const flush = checked.flush ?? false
  validateBoolean(flush, 'options.flush')
  const encoding = (checked.encoding || undefined) as BufferEncoding | undefined
  let contents: Contents
  if (ArrayBuffer.isView(data)) {
    contents = bytesOf(data)
  } else if (isIterable(data) && typeof data !== 'string') {
    contents = data
  } else {
    validateStringData(data, 'data')
    contents = Buffer.from(data, encoding ?? 'utf8')
  }
  return { contents, encoding, signal: checked.signal, flag: checked.flag || defaultFlag, mode: checked.mode, flush: flush as boolean }
}

/**
 * Writes a request's contents to `fd`, as Node's `writeFileHandle`: chunks of an iterable in order
 * at the current position. `positional`: the file was opened here without O_APPEND, so big bytes
 * go from offset 0 in parallel chunks.
 */
export async function writeContents(ring: Ring, fd: number, request: WriteFileRequest, positional: boolean): Promise<void> {
  const { contents, encoding, signal } = request
  checkAborted(signal)
  if (contents instanceof Uint8Array) return writeWhole(ring, fd, contents, positional, signal)
  for await (const chunk of contents) {
    checkAborted(signal)
    // Buffer.from refuses what is neither a string nor bytes with Node's own error.
    const bytes = ArrayBuffer.isView(chunk) ? bytesOf(chunk) : Buffer.from(chunk as string, encoding ?? 'utf8')
    await writeWhole(ring, fd, bytes, false, signal)
  }
}

/**
 * Writes all of `data`: from offset 0 in parallel chunks when `positional`, otherwise at the
 * current position (or the end, for O_APPEND), in order. Nothing to write makes no write(2).
 */
async function writeWhole(ring: Ring, fd: number, data: Uint8Array, positional: boolean, signal?: AbortSignal): Promise<void> {
  // Chunks in parallel only into a regular file: a pipe, a FIFO or a tty takes writes in the order
  // they run, which parallel chunks do not keep.
  if (positional && data.byteLength > CHUNK_BYTES && !(await isRegularFile(ring, fd))) positional = false
  if (!positional || data.byteLength <= CHUNK_BYTES) {
    let written = 0
    while (written < data.byteLength) {
      written += await writeAt(ring, fd, data.subarray(written), positional ? written : -1)
      checkAborted(signal)
    }
    return
  }
  await writeChunks(ring, fd, data, signal)
}

async function isRegularFile(ring: Ring, fd: number): Promise<boolean> {
  const stat = await ring.statx(fd, { syscall: 'fstat' })
  return (stat.mode & S_IFMT) === S_IFREG
}

/** Writes `data` from offset 0 of `fd` in parallel chunks. */
async function writeChunks(ring: Ring, fd: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
  await inParallel(Math.ceil(data.byteLength / CHUNK_BYTES), CHUNKS_IN_FLIGHT, async (index) => {
    let at = index * CHUNK_BYTES
    const chunkEnd = Math.min(data.byteLength, at + CHUNK_BYTES)
    while (at < chunkEnd) at += await ring.writeAt(fd, data.subarray(at, chunkEnd), at)
    checkAborted(signal)
  })
}

// ---- copying ---------------------------------------------------------------------------------

/**
 * Copies the first `size` bytes of `input` to the same offsets of `output`, chunks in parallel, as
 * libuv's copyfile does with sendfile: no more than the size the source had when the copy began,
 * less if it ends sooner.
 */
export async function copyRange(ring: Ring, input: number, output: number, size: number): Promise<void> {
  await inParallel(Math.ceil(size / CHUNK_BYTES), CHUNKS_IN_FLIGHT, async (index) => {
    const start = index * CHUNK_BYTES
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - start))
    let filled = 0
    while (filled < chunk.byteLength) {
      const read = await ring.readAt(input, chunk.subarray(filled), start + filled)
      if (read === 0) break
      filled += read
    }
    let written = 0
    while (written < filled) written += await ring.writeAt(output, chunk.subarray(written, filled), start + written)
  })
}

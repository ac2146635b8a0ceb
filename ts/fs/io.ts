/**
 * Whole-file reads and writes over a ring: what `readFile` and `writeFile` (of the module and of
 * `FileHandle`) share. A file opened here is read or written in parallel chunks at explicit
 * offsets; a `FileHandle` the caller gave is read or written at its current position, in order,
 * as Node does.
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'node:buffer'
import { AbortError } from '../errors.js'
import type { Ring } from '../ring.js'
import { checkAborted } from './options.js'

/** Bytes per chunk of a parallel whole-file read or write, and how many are in flight. */
const CHUNK_BYTES = 1 << 20
const CHUNKS_IN_FLIGHT = 8
/** What one read of a file with no size (a pipe, /proc) asks for. */
const STREAM_CHUNK_BYTES = 64 << 10
/** Node's limit on a file read whole (kIoMaxLength). */
const MAX_FILE_BYTES = 2 ** 31 - 1
const S_IFMT = 0o170000
const S_IFREG = 0o100000

function tooLarge(size: number): RangeError {
  const error = new RangeError(`File size (${size}) is greater than 2 GiB`) as RangeError & { code: string }
  error.code = 'ERR_FS_FILE_TOO_LARGE'
  return error
}

/** Runs `task(i)` for i in [0, count) with at most `limit` at once; the first failure wins. */
async function inParallel(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
}

/**
 * The whole file. `positional`: the ring opened it, so it is read from offset 0 in parallel
 * chunks; otherwise from the current position onwards, in order. As Node, a regular file is read
 * up to the size it had when the read began (less if it shrank); a file without a size until EOF.
 */
export async function readWhole(ring: Ring, fd: number, positional: boolean, signal?: AbortSignal): Promise<Buffer> {
  const stat = await ring.statx(fd, { syscall: 'fstat' })
  const regular = (stat.mode & S_IFMT) === S_IFREG
  const size = regular ? stat.size : 0
  if (size > MAX_FILE_BYTES) throw tooLarge(size)
  checkAborted(signal, AbortError)
  if (size === 0) return readStream(ring, fd, signal)
  const buffer = Buffer.allocUnsafeSlow(size)
  if (!positional) {
    let filled = 0
    while (filled < size) {
      const read = await ring.readAt(fd, buffer.subarray(filled), -1)
      if (read === 0) break
      filled += read
      checkAborted(signal, AbortError)
    }
    return filled === size ? buffer : buffer.subarray(0, filled)
  }
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
    checkAborted(signal, AbortError)
  })
  return end === size ? buffer : buffer.subarray(0, end)
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
    checkAborted(signal, AbortError)
  }
  return Buffer.concat(chunks, total)
}

/**
 * Writes all of `data`. `positional`: from offset 0 in parallel chunks (the ring opened the file,
 * truncating it); otherwise at the current position (or the end, for O_APPEND), in order.
 */
export async function writeWhole(ring: Ring, fd: number, data: Uint8Array, positional: boolean, signal?: AbortSignal): Promise<void> {
  checkAborted(signal, AbortError)
  if (!positional || data.byteLength <= CHUNK_BYTES) {
    let written = 0
    const at = (): number => (positional ? written : -1)
    do {
      written += await ring.writeAt(fd, data.subarray(written), at())
      checkAborted(signal, AbortError)
    } while (written < data.byteLength)
    return
  }
  await inParallel(Math.ceil(data.byteLength / CHUNK_BYTES), CHUNKS_IN_FLIGHT, async (index) => {
    let at = index * CHUNK_BYTES
    const chunkEnd = Math.min(data.byteLength, at + CHUNK_BYTES)
    while (at < chunkEnd) at += await ring.writeAt(fd, data.subarray(at, chunkEnd), at)
    checkAborted(signal, AbortError)
  })
}

/**
 * `rio-uring/log`: a segmented, crash-safe, group-committed log (rio-log, in Rust, on its own
 * ring). `append` resolves to the record's LSN once the record is durable; appends made while a
 * batch is being written share the next write and fdatasync.
 *
 * ```ts
 * import { Log } from 'rio-uring/log'
 * const log = await Log.open('./wal')
 * const lsn = await log.append(Buffer.from('put k v'))      // durable now
 * for await (const { lsn, data } of log.entries({ from: 1 })) replay(data)
 * await log.close()
 * ```
 *
 * Records carry their LSN and a CRC32C; opening a log recovers it to the last intact record, so
 * a crash (kill -9, power loss) loses only appends whose promises had not resolved. An IO error
 * rejects the appends it affects (and those queued after them) and the log goes on from its last
 * durable record. One writer per directory: a second `open` fails while the first is open.
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer'
import * as native from './binding.js'
import { invalidArgType, invalidArgValue, invalidState, outOfRange, systemError } from './errors.js'
import { asyncDispose } from './dispose.js'

export interface LogOptions {
  /** The size segments are preallocated to (default 64 MiB; a multiple of 4096, at least 64 KiB). */
  segmentBytes?: number
  /**
   * Write with O_DIRECT | O_DSYNC (whole 4 KiB blocks per batch, the last partly filled one
   * written again by the next batch) instead of write + fdatasync. By default the log does so
   * where the file system takes O_DIRECT (it measured ~1.3× the durable appends a second of
   * write + fdatasync) and writes buffered elsewhere (tmpfs); `true` requires it, rejecting
   * `open` with EINVAL where it cannot be had; `false` always writes buffered. `log.direct` says
   * which the log does.
   */
  direct?: boolean
  /** Batches in flight at once (default 1: one batch's sync gathers the next batch). */
  pipeline?: number
  /** The ring's backend ('auto', 'io_uring', 'threads'); defaults as `Ring` does. */
  backend?: 'auto' | 'io_uring' | 'threads'
}

/** A record read back. */
export interface Entry {
  lsn: number
  data: Buffer
}

/**
 * An append (or appendBatch): staged in this tick, `records` of the staged bytes are its; handed
 * to the writer, it waits for `lsn` (its last record's) of `epoch` to be durable. One class, so
 * every append has the same shape on the hot path.
 */
class Pending {
  lsn = 0
  epoch = 0
  constructor(
    readonly records: number,
    readonly resolve: (lsn: number) => void,
    readonly reject: (error: Error) => void,
  ) {}
}

/** Staged bytes past which `append` hands them to the writer at once rather than at tick's end. */
const STAGE_LIMIT_BYTES = 1 << 20
/** The stage's starting size, which it goes back to after an append larger than the limit. */
const STAGE_START_BYTES = 64 * 1024
const STAGE_START_RECORDS = 1024
/** The most bytes one append (or appendBatch) may stage: the ends are 32-bit. */
const STAGE_MAX_BYTES = 2 ** 32 - 1

/** Bytes of records each read of `entries` asks for. */
const READ_BYTES = 1 << 20

function recordOf(data: unknown, name: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data)
  if (data instanceof Uint8Array) return data
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', data)
}

function numberOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  return value
}

/** A record's bytes, checked against the log's limit (Node's RangeError for a value too large). */
function recordWithin(data: unknown, name: string): Uint8Array {
  const bytes = recordOf(data, name)
  if (bytes.byteLength > native.LOG_MAX_RECORD_BYTES) {
    throw outOfRange(`${name}.byteLength`, `<= ${native.LOG_MAX_RECORD_BYTES}`, bytes.byteLength)
  }
  return bytes
}

function lsnOf(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, 'an integer >= 0', value)
  return value
}

/** The error a failed native call gives, as a Node-style error where it names an errno. */
function fromNative(error: unknown, syscall: string, path: string): Error {
  const message = error instanceof Error ? error.message : String(error)
  const errno = /\[errno (\d+)\]$/.exec(message)
  if (errno) return systemError(Number(errno[1]), syscall, path)
  const lock = /another writer/.test(message)
  const coded = new Error(message.replace(/ \[[A-Za-z]+\]$/, '')) as Error & { code: string }
  coded.code = lock ? 'ERR_LOG_LOCKED' : 'ERR_LOG'
  return coded
}

/** A durable log in a directory. */
export class Log {
  readonly #native: native.NativeLog
  readonly #dir: string
  readonly #waiting: Pending[] = []
  /**
   * Appends of this tick, copied in as they are made and handed to the writer in one native call
   * from a microtask: a native call per record costs more than the record's share of a batch
   * (and concurrent appenders all come back in one tick, when a batch becomes durable).
   */
  #stagedBytes = new Uint8Array(STAGE_START_BYTES)
  #stagedEnds = new Uint32Array(STAGE_START_RECORDS)
  #stagedRecords = 0
  readonly #staged: Pending[] = []
  /** Holds the event loop open while appends wait to be durable. */
  readonly #keepAlive: NodeJS.Timeout
  #closing: Promise<void> | null = null

  private constructor(handle: native.NativeLog, dir: string, keepAlive: NodeJS.Timeout) {
    this.#native = handle
    this.#dir = dir
    this.#keepAlive = keepAlive
  }

  /** Opens the log in `dir` (creating it), recovering it to its last intact record. */
  static async open(dir: string, options: LogOptions = {}): Promise<Log> {
    if (typeof dir !== 'string') throw invalidArgType('dir', 'of type string', dir)
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    const segmentBytes = numberOption('options.segmentBytes', options.segmentBytes, 64 * 1024 * 1024)
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 65536 || segmentBytes % 4096 !== 0) {
      throw outOfRange('options.segmentBytes', 'a multiple of 4096, at least 65536', segmentBytes)
    }
    const pipeline = numberOption('options.pipeline', options.pipeline, 1)
    if (!Number.isInteger(pipeline) || pipeline < 1 || pipeline > 64) throw outOfRange('options.pipeline', '>= 1 && <= 64', pipeline)
    if (options.direct !== undefined && typeof options.direct !== 'boolean') throw invalidArgType('options.direct', 'of type boolean', options.direct)
    const backend = options.backend ?? (process.env.RIO_URING_BACKEND || 'auto')
    if (backend !== 'auto' && backend !== 'io_uring' && backend !== 'threads') {
      throw invalidArgValue('options.backend', backend, "must be 'auto', 'io_uring' or 'threads'")
    }
    let log: Log | null = null
    const keepAlive = setInterval(() => {}, 1 << 30)
    keepAlive.unref()
    let handle: native.NativeLog
    try {
      handle = await native.openLog(dir, segmentBytes, options.direct !== false, options.direct === undefined, pipeline, backend, () => {
        if (log !== null) log.#takeNotices()
      })
    } catch (error) {
      clearInterval(keepAlive)
      const failure = fromNative(error, 'open', dir)
      if (options.direct === true && (failure as NodeJS.ErrnoException).code === 'EINVAL') {
        failure.message += ": direct: true, and this file system does not take O_DIRECT (leave `direct` unset to fall back to buffered writes)"
      }
      throw failure
    }
    log = new Log(handle, dir, keepAlive)
    return log
  }

  /** Whether the log writes with O_DIRECT | O_DSYNC (see `LogOptions.direct`). */
  get direct(): boolean {
    return this.#native.direct
  }

  /** The highest LSN known durable (0 for an empty log). */
  get durableLsn(): number {
    return this.#native.durableLsn
  }

  /** The LSN the next append gets. */
  get nextLsn(): number {
    this.#flush()
    return this.#native.nextLsn
  }

  /** The first LSN still in the log (records before it were truncated). */
  get firstLsn(): number {
    return this.#native.firstLsn
  }

  /**
   * Appends a record; resolves to its LSN once it is durable. The record is copied before this
   * returns, so the caller may reuse its buffer at once.
   */
  append(data: Uint8Array | string): Promise<number> {
    if (this.#closing) return Promise.reject(invalidState('the log is closed'))
    let bytes: Uint8Array
    try {
      bytes = recordWithin(data, 'data')
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => this.#stageOne(bytes, new Pending(1, resolve, reject)))
  }

  /** Appends several records at once (consecutive LSNs); resolves to their LSNs once durable. */
  async appendBatch(records: readonly (Uint8Array | string)[]): Promise<number[]> {
    if (this.#closing) throw invalidState('the log is closed')
    if (!Array.isArray(records)) throw invalidArgType('records', 'an instance of Array', records)
    if (records.length === 0) return []
    const bytes = records.map((record, i) => recordWithin(record, `records[${i}]`))
    let total = 0
    for (const record of bytes) total += record.byteLength
    if (total > STAGE_MAX_BYTES) throw outOfRange('the total byteLength of records', `<= ${STAGE_MAX_BYTES}`, total)
    const last = await new Promise<number>((resolve, reject) => this.#stage(bytes, new Pending(bytes.length, resolve, reject)))
    return bytes.map((_, i) => last - (bytes.length - 1) + i)
  }

  /**
   * Copies an append's records into the staged bytes, scheduling their flush with the tick's
   * first append. An append's records go to the writer in one call, so a flush for room comes
   * before them, never between them.
   */
  #stage(records: readonly Uint8Array[], append: Pending): void {
    let bytes = 0
    for (const record of records) bytes += record.byteLength
    let end = this.#reserve(bytes, records.length)
    for (const record of records) {
      this.#stagedBytes.set(record, end)
      end += record.byteLength
      this.#stagedEnds[this.#stagedRecords++] = end
    }
    this.#staged.push(append)
  }

  /** `#stage` for one record (`append`'s path, without an array per call). */
  #stageOne(record: Uint8Array, append: Pending): void {
    const start = this.#reserve(record.byteLength, 1)
    this.#stagedBytes.set(record, start)
    this.#stagedEnds[this.#stagedRecords++] = start + record.byteLength
    this.#staged.push(append)
  }

  /**
   * Makes room to stage `records` records of `bytes` bytes in all (flushing first if the stage
   * would pass its limit, and scheduling the flush for the tick's first); returns where they go.
   */
  #reserve(bytes: number, records: number): number {
    if (this.#stagedRecords > 0 && this.#stagedEnd() + bytes > STAGE_LIMIT_BYTES) this.#flush()
    if (this.#stagedRecords === 0) queueMicrotask(this.#flushLater)
    const start = this.#stagedEnd()
    if (start + bytes > this.#stagedBytes.byteLength) {
      const grown = new Uint8Array(Math.max(this.#stagedBytes.byteLength * 2, start + bytes))
      grown.set(this.#stagedBytes.subarray(0, start))
      this.#stagedBytes = grown
    }
    if (this.#stagedRecords + records > this.#stagedEnds.length) {
      const grown = new Uint32Array(Math.max(this.#stagedEnds.length * 2, this.#stagedRecords + records))
      grown.set(this.#stagedEnds.subarray(0, this.#stagedRecords))
      this.#stagedEnds = grown
    }
    return start
  }

  /** `#flush`, bound once for `queueMicrotask`. */
  readonly #flushLater = (): void => this.#flush()

  /** Where the staged bytes end. */
  #stagedEnd(): number {
    return this.#stagedRecords === 0 ? 0 : this.#stagedEnds[this.#stagedRecords - 1]
  }

  /** Hands the staged records to the writer in one call; they wait for durability from then on. */
  #flush(): void {
    const count = this.#stagedRecords
    if (count === 0) return
    this.#stagedRecords = 0
    const staged = this.#staged.splice(0)
    let encoded: number
    try {
      encoded = this.#native.appendStaged(this.#stagedBytes.subarray(0, this.#stagedEnds[count - 1]), this.#stagedEnds.subarray(0, count))
    } catch (error) {
      for (const append of staged) append.reject(fromNative(error, 'append', this.#dir))
      return
    } finally {
      // The native call copied the bytes; a stage grown for one huge append is not kept.
      if (this.#stagedBytes.byteLength > STAGE_LIMIT_BYTES) this.#stagedBytes = new Uint8Array(STAGE_START_BYTES)
      if (this.#stagedEnds.length > 64 * STAGE_START_RECORDS) this.#stagedEnds = new Uint32Array(STAGE_START_RECORDS)
    }
    let lsn = Math.floor(encoded / native.EPOCH_SPAN) - 1
    const epoch = encoded % native.EPOCH_SPAN
    if (this.#waiting.length === 0) this.#keepAlive.ref()
    for (const append of staged) {
      lsn += append.records
      append.lsn = lsn
      append.epoch = epoch
      this.#waiting.push(append)
    }
  }

  /** Settles appends from the writer's notices: failures first, then everything durable. */
  #takeNotices(): void {
    const { durable, failures } = this.#native.takeNotices()
    for (const failure of failures) {
      const error = failure.errno ? systemError(failure.errno, 'append', this.#dir) : new Error(`append failed: ${failure.message}`)
      for (let i = this.#waiting.length - 1; i >= 0; i--) {
        const waiting = this.#waiting[i]
        if (waiting.epoch === failure.epoch && waiting.lsn >= failure.first) {
          this.#waiting.splice(i, 1)
          waiting.reject(error)
        }
      }
    }
    let settled = 0
    while (settled < this.#waiting.length && this.#waiting[settled].lsn <= durable) settled++
    for (const waiting of this.#waiting.splice(0, settled)) waiting.resolve(waiting.lsn)
    if (this.#waiting.length === 0) this.#keepAlive.unref()
  }

  /** The durable records from `from` (default: the first) on, in LSN order. */
  async *entries(options: { from?: number } = {}): AsyncGenerator<Entry> {
    let next = lsnOf('options.from', options.from ?? this.firstLsn)
    for (;;) {
      let records: native.LogRecord[]
      try {
        records = await this.#native.read(next, READ_BYTES)
      } catch (error) {
        throw fromNative(error, 'read', this.#dir)
      }
      if (records.length === 0) return
      for (const record of records) yield { lsn: record.lsn, data: record.data }
      next = records[records.length - 1].lsn + 1
    }
  }

  /**
   * Drops the whole segments whose records all come before `beforeLsn` and are all durable;
   * resolves to how many. Truncation only ever keeps more than asked: the segment holding
   * `beforeLsn - 1` stays, and so does the one being written. A `beforeLsn` past
   * `durableLsn + 1` is clamped to it, so a record whose append has not resolved is never
   * dropped; `truncate(Number.MAX_SAFE_INTEGER)` drops every segment of durable records but the
   * last.
   */
  async truncate(beforeLsn: number): Promise<number> {
    if (this.#closing) throw invalidState('the log is closed')
    const before = lsnOf('beforeLsn', beforeLsn)
    try {
      return await this.#native.truncate(before)
    } catch (error) {
      throw fromNative(error, 'unlink', this.#dir)
    }
  }

  /** Waits for what was appended to be durable, stops the writer and unlocks the directory. */
  close(): Promise<void> {
    this.#flush()
    this.#closing ??= (async () => {
      this.#keepAlive.ref()
      try {
        await this.#native.close()
        this.#takeNotices()
      } finally {
        clearInterval(this.#keepAlive)
      }
      for (const waiting of this.#waiting.splice(0)) waiting.reject(invalidState('the log closed before this append was durable'))
    })()
    return this.#closing
  }

  async [asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * A small key-value store on rio-uring/log: every put and delete is a log record, made durable
 * before it counts; an in-memory Map is the index, rebuilt on open by replaying the log; and
 * `compact()` writes a snapshot of the live keys into the log and truncates the segments before it.
 *
 * ```sh
 * npx tsx examples/kv-store.ts --self-check [DIR]   # a concurrent workload, checked across reopens and compactions
 * npx tsx examples/kv-store.ts DIR put KEY VALUE
 * npx tsx examples/kv-store.ts DIR get KEY          # prints the value (exit 1 if there is none)
 * npx tsx examples/kv-store.ts DIR delete KEY
 * npx tsx examples/kv-store.ts DIR list             # key=value lines, sorted by key
 * npx tsx examples/kv-store.ts DIR compact
 * ```
 *
 * Why compaction by snapshot and truncate, and not by writing a new log directory and swapping
 * it in: the swap needs an atomic switch between two directories, which takes a pointer file
 * written by tmp + rename + fsync (as LevelDB's CURRENT) and cleanup of the loser after a crash.
 * The snapshot needs nothing but the log's own guarantees, and is crash-safe at every point:
 * - The snapshot goes in as one `appendBatch`: SNAPSHOT_BEGIN, one SNAPSHOT_PUT per live key,
 *   SNAPSHOT_END, at consecutive LSNs. Replay builds it aside and takes it only at its END (with
 *   the count BEGIN announced), so a snapshot cut short by a crash is ignored and the records
 *   before it still give the state. Snapshot records are of their own kinds, so ordinary puts
 *   written after a cut-short snapshot are never mistaken for part of it.
 * - The state at SNAPSHOT_END depends on nothing before SNAPSHOT_BEGIN, so once END is durable
 *   the segments before BEGIN can go. `truncate` drops whole segments, oldest first: a crash
 *   part-way leaves a suffix of the old records in front of the snapshot, which replay applies
 *   and the snapshot then replaces.
 * - The snapshot is taken when no put or delete is in flight, so every record before BEGIN is
 *   in the index it copies: new ops wait until the snapshot is appended (so a steady stream of
 *   writes cannot starve it), and then get LSNs after END.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Log, type LogOptions } from 'rio-uring/log'

/** Record kinds: the first byte of every record. */
const PUT = 1
const DELETE = 2
const SNAPSHOT_BEGIN = 3
const SNAPSHOT_PUT = 4
const SNAPSHOT_END = 5

/** [kind, key length u32] [key, UTF-8] [value]; snapshot bounds carry a key count instead. */
function encodeOp(kind: number, key: string, value?: Uint8Array): Buffer {
  const keyBytes = Buffer.from(key)
  const record = Buffer.allocUnsafe(5 + keyBytes.length + (value?.length ?? 0))
  record[0] = kind
  record.writeUInt32LE(keyBytes.length, 1)
  keyBytes.copy(record, 5)
  if (value) record.set(value, 5 + keyBytes.length)
  return record
}

function encodeBound(kind: number, count: number): Buffer {
  const record = Buffer.allocUnsafe(5)
  record[0] = kind
  record.writeUInt32LE(count, 1)
  return record
}

type Op =
  | { kind: typeof PUT | typeof SNAPSHOT_PUT; key: string; value: Buffer }
  | { kind: typeof DELETE; key: string }
  | { kind: typeof SNAPSHOT_BEGIN; count: number }
  | { kind: typeof SNAPSHOT_END; count: number }

function decodeOp(record: Buffer): Op {
  const kind = record[0]
  const length = record.readUInt32LE(1)
  if (kind === SNAPSHOT_BEGIN) return { kind, count: length }
  if (kind === SNAPSHOT_END) return { kind, count: length }
  const key = record.toString('utf8', 5, 5 + length)
  if (kind === PUT || kind === SNAPSHOT_PUT) return { kind, key, value: record.subarray(5 + length) }
  if (kind === DELETE) return { kind, key }
  throw new Error(`a record of unknown kind ${kind}: this log was not written by kv-store`)
}

/** A durable key-value store in a directory. Reads see what was durably written. */
export class KvStore {
  readonly #log: Log
  #index = new Map<string, Buffer>()
  /** Puts and deletes not yet durable: a snapshot waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>()
  /** Set while a snapshot waits for the ops in flight: new ops wait for it. */
  #snapshotting: Promise<void> | null = null
  #compacting: Promise<unknown> = Promise.resolve()

  private constructor(log: Log) {
    this.#log = log
  }

  /** Opens (or creates) the store in `dir`, replaying its log into the index. */
  static async open(dir: string, options: LogOptions = {}): Promise<KvStore> {
    const store = new KvStore(await Log.open(dir, options))
    try {
      await store.#replay()
    } catch (error) {
      await store.#log.close()
      throw error
    }
    return store
  }

  async #replay(): Promise<void> {
    let snapshot: { index: Map<string, Buffer>; count: number } | null = null
    for await (const { data } of this.#log.entries()) {
      const op = decodeOp(data)
      if (op.kind === SNAPSHOT_BEGIN) {
        snapshot = { index: new Map(), count: op.count }
      } else if (op.kind === SNAPSHOT_PUT) {
        snapshot?.index.set(op.key, op.value)
      } else if (op.kind === SNAPSHOT_END) {
        if (snapshot !== null && snapshot.index.size === op.count && op.count === snapshot.count) this.#index = snapshot.index
        snapshot = null
      } else {
        // An ordinary op: any snapshot still open was cut short by a crash.
        snapshot = null
        if (op.kind === PUT) this.#index.set(op.key, op.value)
        else this.#index.delete(op.key)
      }
    }
  }

  /** Appends an op once no snapshot is being taken; resolves once it is durable. */
  async #write(record: Buffer): Promise<void> {
    while (this.#snapshotting !== null) await this.#snapshotting
    const appended = this.#log.append(record)
    this.#inFlight.add(appended)
    try {
      await appended
    } finally {
      this.#inFlight.delete(appended)
    }
  }

  /** Sets `key`; resolves once it is durable (and visible to `get`). */
  async put(key: string, value: Uint8Array | string): Promise<void> {
    const bytes = Buffer.from(value)
    // Appends resolve in LSN order, so the index takes the ops in the order the log holds them.
    await this.#write(encodeOp(PUT, key, bytes))
    this.#index.set(key, bytes)
  }

  /** Removes `key`; resolves once that is durable. */
  async delete(key: string): Promise<void> {
    await this.#write(encodeOp(DELETE, key))
    this.#index.delete(key)
  }

  get(key: string): Buffer | undefined {
    return this.#index.get(key)
  }

  get size(): number {
    return this.#index.size
  }

  /** The live keys and values, in no particular order. */
  entries(): IterableIterator<[string, Buffer]> {
    return this.#index.entries()
  }

  /** Writes a snapshot of the live keys and drops the segments wholly before it. */
  compact(): Promise<{ liveKeys: number; segmentsDropped: number }> {
    const run = this.#compacting.then(async () => {
      let release = () => {}
      this.#snapshotting = new Promise((resolve) => (release = resolve))
      let records: Buffer[]
      let appended: Promise<number[]>
      try {
        while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
        // No await between copying the index and appending it: nothing can slip in between.
        records = [encodeBound(SNAPSHOT_BEGIN, this.#index.size)]
        for (const [key, value] of this.#index) records.push(encodeOp(SNAPSHOT_PUT, key, value))
        records.push(encodeBound(SNAPSHOT_END, this.#index.size))
        appended = this.#log.appendBatch(records)
      } finally {
        this.#snapshotting = null
        release()
      }
      const [begin] = await appended
      return { liveKeys: records.length - 2, segmentsDropped: await this.#log.truncate(begin) }
    })
    this.#compacting = run.catch(() => {})
    return run
  }

  /** Waits for what was started, then closes the log. */
  async close(): Promise<void> {
    await this.#compacting
    await this.#log.close()
  }
}

// ---- self-check ---------------------------------------------------------------------------------

/** Segment bytes for the self-check: small, so compaction has whole segments to drop. */
const SELF_CHECK_SEGMENT_BYTES = 64 * 1024

function logBytes(dir: string): { segments: number; bytes: number } {
  const segments = fs.readdirSync(dir).filter((name) => name.endsWith('.log'))
  return { segments: segments.length, bytes: segments.reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0) }
}

function assertSame(store: KvStore, expected: Map<string, Buffer>, when: string): void {
  if (store.size !== expected.size) throw new Error(`${when}: the store holds ${store.size} keys, expected ${expected.size}`)
  for (const [key, value] of expected) {
    const got = store.get(key)
    if (got === undefined || !got.equals(value)) throw new Error(`${when}: ${key} is ${got === undefined ? 'missing' : `"${got}"`}, expected "${value}"`)
  }
}

/** Runs a workload of concurrent puts and deletes, reopening and compacting between checks. */
async function selfCheck(dir: string): Promise<string> {
  const options = { segmentBytes: SELF_CHECK_SEGMENT_BYTES }
  const expected = new Map<string, Buffer>()
  let store = await KvStore.open(dir, options)
  const reopen = async (when: string) => {
    await store.close()
    store = await KvStore.open(dir, options)
    assertSame(store, expected, when)
  }
  let seed = 12345
  const random = (below: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return (seed >>> 8) % below
  }
  const writers = 64
  const opsPerWriter = 60
  let opsDone = 0
  const workload = async (round: number) =>
    Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        for (let i = 0; i < opsPerWriter; i++) {
          const key = `key-${random(300)}`
          if (random(5) === 0) {
            await store.delete(key)
            expected.delete(key)
            opsDone++
          } else {
            const value = Buffer.from(`round ${round} writer ${writer} op ${i} `.padEnd(20 + random(200), '.'))
            await store.put(key, value)
            expected.set(key, value)
            opsDone++
          }
        }
      }),
    )

  await workload(1)
  assertSame(store, expected, 'after the first workload')
  await reopen('after reopening')
  await workload(2)
  await workload(3)
  const before = logBytes(dir)
  // Compaction in the middle of a stream of writes: it waits for those in flight and holds new
  // ones back only until the snapshot is appended.
  const writing = workload(4)
  const started = opsDone
  while (opsDone < started + 1000) await new Promise((resolve) => setImmediate(resolve))
  const { liveKeys, segmentsDropped } = await store.compact()
  await writing
  const after = logBytes(dir)
  if (segmentsDropped === 0 || after.bytes >= before.bytes) throw new Error(`compaction dropped ${segmentsDropped} segments (${before.bytes} -> ${after.bytes} bytes)`)
  assertSame(store, expected, 'after compacting')
  await reopen('after reopening the compacted store')

  // A crash while a snapshot is written leaves its start without its end: replay ignores it, and
  // ops written after it still count.
  await store.close()
  const log = await Log.open(dir, options)
  await log.appendBatch([encodeBound(SNAPSHOT_BEGIN, 2), encodeOp(SNAPSHOT_PUT, 'ghost', Buffer.from('never live'))])
  await log.close()
  store = await KvStore.open(dir, options)
  assertSame(store, expected, 'after a snapshot cut short')
  await workload(5)
  await reopen('after ops that follow a snapshot cut short')
  await store.close()
  const ops = 5 * writers * opsPerWriter
  return (
    `kv-store: self-check passed: ${ops} puts and deletes by ${writers} concurrent writers, ${expected.size} live keys, ` +
    `the same after 4 reopens; compaction snapshotted ${liveKeys} keys while writes went on and dropped ${segmentsDropped} segments ` +
    `(the log went from ${Math.round(before.bytes / 1024)} KiB to ${Math.round(after.bytes / 1024)} KiB); a snapshot cut short was ignored`
  )
}

// ---- command line -------------------------------------------------------------------------------

const USAGE = `usage: npx tsx examples/kv-store.ts --self-check [DIR]
       npx tsx examples/kv-store.ts DIR put KEY VALUE | get KEY | delete KEY | list | compact`

async function main(): Promise<void> {
  const [first, command, key, value] = process.argv.slice(2)
  if (first === '--self-check') {
    const dir = command ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kv-store-'))
    try {
      console.log(await selfCheck(dir))
    } finally {
      if (command === undefined) fs.rmSync(dir, { recursive: true, force: true })
    }
    return
  }
  const arity: Record<string, number> = { put: 2, get: 1, delete: 1, list: 0, compact: 0 }
  if (first === undefined || command === undefined || !(command in arity) || [key, value].filter((arg) => arg !== undefined).length !== arity[command]) {
    console.error(USAGE)
    process.exitCode = 2
    return
  }
  const store = await KvStore.open(first)
  try {
    switch (command) {
      case 'put':
        await store.put(key, value)
        break
      case 'delete':
        await store.delete(key)
        break
      case 'get': {
        const found = store.get(key)
        if (found === undefined) {
          console.error(`kv-store: no key ${key}`)
          process.exitCode = 1
        } else {
          console.log(found.toString())
        }
        break
      }
      case 'list':
        for (const [name, data] of [...store.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) console.log(`${name}=${data}`)
        break
      case 'compact': {
        const { liveKeys, segmentsDropped } = await store.compact()
        console.log(`kv-store: compacted ${liveKeys} live keys; ${segmentsDropped} old segments dropped`)
        break
      }
    }
  } finally {
    await store.close()
  }
}

main().catch((error: Error) => {
  console.error(`kv-store: ${error.message}`)
  process.exitCode = 1
})

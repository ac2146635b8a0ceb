// The log rows of `npm run bench`: 64 concurrent appenders of 128 B records, each awaiting its
// record's durability before it appends the next, for a fixed time; records per second:
//   rio-uring/log      append with the defaults (group commit: one O_DIRECT | O_DSYNC write per
//                      batch where the file system takes it, else one write + fdatasync)
//   fs/promises        FileHandle write + datasync per record, 64 at once, into a pre-zeroed file
//                      (as the log's segments are, so neither pays for growing its file)
//   lmdb               put per record with its default (durable) commits; its default
//                      overlappingSync resolves a put at commit, before the sync, so each appender
//                      then awaits `db.flushed` too
//   better-sqlite3     one INSERT per record in WAL mode with synchronous = FULL; the API is
//                      synchronous, so the 64 "concurrent" appenders are one thread inserting
//                      record after record, each commit waiting for its own WAL fsync
// Each run starts from a new directory; every figure is a median of `runs` runs, the four stores
// taking turns within each run so drift hits all of them.
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Log } from 'rio-uring/log'

const APPENDERS = 64
const RECORD_BYTES = 128
/** The fs/promises file is pre-zeroed to this; appends past it would extend it. */
const PREZEROED_BYTES = 64 << 20

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]

/** Records per second of `appenders` loops each running `appendOne(record)` until `seconds` pass. */
async function appendFor(seconds, appenders, appendOne) {
  const record = Buffer.alloc(RECORD_BYTES, 0x5a)
  const deadline = performance.now() + seconds * 1000
  let appended = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (performance.now() < deadline) {
        await appendOne(record)
        appended++
      }
    }),
  )
  return appended / ((performance.now() - started) / 1000)
}

const stores = {
  async 'rio-uring/log'(dir, seconds) {
    const log = await Log.open(dir)
    try {
      return await appendFor(seconds, APPENDERS, (record) => log.append(record))
    } finally {
      await log.close()
    }
  },

  async 'fs/promises'(dir, seconds) {
    const file = path.join(dir, 'records')
    const zeros = Buffer.alloc(1 << 20)
    const handle = await fsp.open(file, 'w+')
    try {
      for (let at = 0; at < PREZEROED_BYTES; at += zeros.length) await handle.write(zeros, 0, zeros.length, at)
      await handle.sync()
      let position = 0
      return await appendFor(seconds, APPENDERS, async (record) => {
        const at = position
        position += record.length
        await handle.write(record, 0, record.length, at)
        await handle.datasync()
      })
    } finally {
      await handle.close()
    }
  },

  async lmdb(dir, seconds) {
    const { open } = await import('lmdb')
    const db = open({ path: path.join(dir, 'lmdb'), encoding: 'binary' })
    try {
      let key = 0
      return await appendFor(seconds, APPENDERS, async (record) => {
        await db.put(key++, record)
        await db.flushed
      })
    } finally {
      await db.close()
    }
  },

  async 'better-sqlite3'(dir, seconds) {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(path.join(dir, 'records.sqlite'))
    try {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      db.exec('CREATE TABLE records (lsn INTEGER PRIMARY KEY, data BLOB NOT NULL)')
      const insert = db.prepare('INSERT INTO records (data) VALUES (?)')
      // Synchronous: each "appender" blocks the thread for its whole insert, so 64 of them are
      // one sequence of single-insert transactions.
      return await appendFor(seconds, APPENDERS, async (record) => {
        insert.run(record)
      })
    } finally {
      db.close()
    }
  },
}

/** Measures every store; adds rows through `row`. `dir`: where the stores' files go. */
export async function logCase({ runs, quick, row, log, dir = path.join(os.tmpdir(), 'rio-uring-bench') }) {
  const seconds = quick ? 1 : 3
  fs.mkdirSync(dir, { recursive: true })
  const samples = Object.fromEntries(Object.keys(stores).map((name) => [name, []]))
  for (let run = 0; run < runs; run++) {
    for (const [name, measure] of Object.entries(stores)) {
      const scratch = fs.mkdtempSync(path.join(dir, 'log-'))
      try {
        const rate = await measure(scratch, seconds)
        samples[name].push(rate)
        log(`  ${name}: ${rate.toFixed(0)} durable 128 B appends/s`)
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true })
      }
    }
  }
  const rates = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]))
  const label = `128 B appends, ${APPENDERS} appenders awaiting durability`
  row(label, rates['rio-uring/log'], 'fs/promises write + datasync', rates['fs/promises'], '≥ 15×')
  row(label, rates['rio-uring/log'], 'lmdb put (durable commits)', rates.lmdb, '> 1×')
  row(label, rates['rio-uring/log'], 'better-sqlite3 insert (WAL, FULL; sequential)', rates['better-sqlite3'], '> 1×')
}

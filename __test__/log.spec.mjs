// rio-uring/log from JavaScript: appends resolve to consecutive LSNs once durable, reads return
// exactly what was appended, segments roll and truncate, one writer per directory, arguments fail
// as Node's do, and recovery on open never returns a torn, corrupt or stale record. Runs on the
// backend RIO_URING_BACKEND names (the log's ring follows it). The kill -9 test is
// log-crash.spec.mjs.
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Log } from 'rio-uring/log'
import * as native from '../native/index.js'
import { runProcess, tempDir } from './support.mjs'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const KiB = 1024
/** Where a segment's first record starts (format.rs: HEADER_BYTES). */
const HEADER_BYTES = 4096
/** A record's frame before its data: len u32, crc32c u32, lsn u64 (format.rs: FRAME_BYTES). */
const FRAME_BYTES = 16

/** Why O_DIRECT cannot be tested here (the temp dir's file system refuses it), or null. */
const directRefused = (() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-uring-direct-probe-'))
  try {
    fs.closeSync(fs.openSync(path.join(dir, 'probe'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DIRECT))
    return null
  } catch (error) {
    return `${os.tmpdir()} refuses O_DIRECT (${error.code})`
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})()
const directTest = directRefused ? test.skip : test
const directTitle = (title) => (directRefused ? `${title} (skipped: ${directRefused})` : title)

/** A log in `dir`, closed when the test ends (close is idempotent). */
async function openLog(t, dir, options) {
  const log = await Log.open(dir, options)
  t.teardown(() => log.close())
  return log
}

/** Every entry `entries(options)` yields, in order. */
async function entriesOf(log, options) {
  const entries = []
  for await (const entry of log.entries(options)) entries.push(entry)
  return entries
}

/** Record `index`'s data: a marker that is unique in the log, then `size` bytes of filler. */
function recordData(index, size = 40) {
  const marker = Buffer.from(`<record ${index}>`)
  const filler = Buffer.alloc(Math.max(0, size - marker.length))
  for (let i = 0; i < filler.length; i++) filler[i] = (index * 31 + i * 7) & 0xff
  return Buffer.concat([marker, filler])
}

/** Asserts that the log holds exactly `expected` (an array of Buffers for LSNs first, first+1, ...). */
async function assertHolds(t, log, expected, first = 1) {
  const entries = await entriesOf(log)
  t.deepEqual(
    entries.map((entry) => entry.lsn),
    expected.map((_, i) => first + i),
    'the LSNs read back',
  )
  for (let i = 0; i < Math.min(entries.length, expected.length); i++) {
    if (!entries[i].data.equals(expected[i])) {
      t.fail(`LSN ${entries[i].lsn} reads back ${entries[i].data.toString('hex', 0, 32)}..., not ${expected[i].toString('hex', 0, 32)}...`)
      return
    }
  }
  t.is(log.nextLsn, first + expected.length)
}

function segmentFiles(dir) {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.log')).sort()
}

/** The segment file and offset of the data of the record whose data starts with `marker`. */
function locate(dir, marker) {
  for (const name of segmentFiles(dir)) {
    const file = path.join(dir, name)
    const offset = fs.readFileSync(file).indexOf(marker)
    if (offset >= 0) return { file, offset }
  }
  throw new Error(`no segment in ${dir} holds ${marker}`)
}

function writeAt(file, bytes, offset) {
  const fd = fs.openSync(file, 'r+')
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset)
  } finally {
    fs.closeSync(fd)
  }
}

function flipByte(file, offset) {
  const fd = fs.openSync(file, 'r+')
  try {
    const byte = Buffer.alloc(1)
    fs.readSync(fd, byte, 0, 1, offset)
    byte[0] ^= 0x5a
    fs.writeSync(fd, byte, 0, 1, offset)
  } finally {
    fs.closeSync(fd)
  }
}

/** Appends `records` one at a time (each awaited), so each is its own batch; their LSNs. */
async function appendEach(log, records) {
  const lsns = []
  for (const record of records) lsns.push(await log.append(record))
  return lsns
}

// ---- faults -------------------------------------------------------------------------------------

// rio-log's failpoints are process-wide: these tests are serial, so that they run before (and
// never beside) the others of this file, which run in this process too.
test.serial('an append whose write fails with EIO rejects with code EIO, the log stays readable up to its last durable record, and goes on', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir)
  const records = Array.from({ length: 20 }, (_, i) => recordData(i))
  t.deepEqual(await appendEach(log, records), records.map((_, i) => i + 1))
  native.setLogFailpoint('log::write', '1*return(5)')
  let failed
  try {
    // Both in one tick: the first batch fails, and the append after it with it.
    failed = await Promise.allSettled([log.append('written into EIO'), log.append('queued behind it')])
  } finally {
    native.setLogFailpoint('log::write', '')
  }
  for (const { status, reason } of failed) {
    t.is(status, 'rejected')
    t.is(reason.code, 'EIO', String(reason))
    t.is(reason.errno, -5)
    t.is(reason.syscall, 'append')
    t.is(reason.path, dir)
  }
  t.is(log.durableLsn, 20)
  await assertHolds(t, log, records)
  // The failed LSNs go to the next appends.
  t.is(await log.append('after the fault'), 21)
  await log.close()
  const reopened = await openLog(t, dir)
  await assertHolds(t, reopened, [...records, Buffer.from('after the fault')])
})

test.serial('a read of the log whose IO fails rejects with code EIO, and the next one reads every record', async (t) => {
  const log = await openLog(t, tempDir(t))
  const records = Array.from({ length: 20 }, (_, i) => recordData(i))
  await log.appendBatch(records)
  native.setLogFailpoint('log::read', 'return(5)')
  try {
    const error = await t.throwsAsync(entriesOf(log), { code: 'EIO' })
    t.is(error.syscall, 'read')
  } finally {
    native.setLogFailpoint('log::read', '')
  }
  await assertHolds(t, log, records)
  t.throws(() => native.setLogFailpoint('log::no_such_call', 'return'), { message: /has no failpoint "log::no_such_call"/ })
})

// ---- appends --------------------------------------------------------------------------------------

/** CPU time (clock ticks) the log writer threads of this process have used so far. */
function writerTicks() {
  let ticks = 0
  for (const task of fs.readdirSync('/proc/self/task')) {
    let stat
    try {
      stat = fs.readFileSync(`/proc/self/task/${task}/stat`, 'utf8')
    } catch {
      continue // the thread exited meanwhile
    }
    if (!stat.includes('(rio-log-writer)')) continue
    // Fields after the command's closing parenthesis, from the state (field 3): utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks
}

test.serial('an idle log costs no CPU: the writer watches for completions only while batches are in flight', async (t) => {
  const log = await openLog(t, tempDir(t))
  await Promise.all(Array.from({ length: 64 }, (_, i) => log.append(recordData(i))))
  await log.append('the last one')
  const before = writerTicks()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const used = writerTicks() - before
  // A writer spinning for that second would have used about 100 ticks.
  t.true(used <= 3, `the idle writer used ${used} clock ticks in 1 s`)
})

test('appends resolve to consecutive LSNs from 1, in order, and only once durable', async (t) => {
  const log = await openLog(t, tempDir(t))
  t.is(log.firstLsn, 1)
  t.is(log.nextLsn, 1)
  t.is(log.durableLsn, 0)
  const resolved = []
  const appends = Array.from({ length: 500 }, (_, i) =>
    log.append(recordData(i)).then((lsn) => {
      // The log's own durable LSN has reached this record when its promise resolves.
      t.true(log.durableLsn >= lsn, `LSN ${lsn} resolved with durableLsn ${log.durableLsn}`)
      resolved.push(lsn)
      return lsn
    }),
  )
  t.is(log.nextLsn, 501, 'the LSNs are handed out as append is called')
  t.deepEqual(await Promise.all(appends), Array.from({ length: 500 }, (_, i) => i + 1))
  t.deepEqual(resolved, Array.from({ length: 500 }, (_, i) => i + 1), 'the promises resolved in LSN order')
  t.is(log.durableLsn, 500)
  const next = await log.append('one more')
  t.is(next, 501)
})

test('when an append resolves, its record is already written in its segment file', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { segmentBytes: 64 * KiB })
  const missing = []
  await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      log.append(recordData(i, 200)).then(() => {
        try {
          locate(dir, Buffer.from(`<record ${i}>`))
        } catch {
          missing.push(i)
        }
      }),
    ),
  )
  t.deepEqual(missing, [], 'appends resolved before their records were in the file')
})

test('64 concurrent appenders all resolve, each to increasing LSNs, and every record reads back as its appender wrote it', async (t) => {
  const log = await openLog(t, tempDir(t))
  const written = new Map()
  await Promise.all(
    Array.from({ length: 64 }, async (_, appender) => {
      let previous = 0
      for (let i = 0; i < 40; i++) {
        const data = Buffer.from(`appender ${appender} record ${i} `.repeat(1 + ((appender + i) % 5)))
        const lsn = await log.append(data)
        t.true(lsn > previous, `appender ${appender} got LSN ${lsn} after ${previous}`)
        t.false(written.has(lsn), `LSN ${lsn} was handed out twice`)
        previous = lsn
        written.set(lsn, data)
      }
    }),
  )
  t.is(written.size, 64 * 40)
  t.is(log.durableLsn, 64 * 40)
  await assertHolds(t, log, Array.from({ length: 64 * 40 }, (_, i) => written.get(i + 1)))
})

test('appendBatch gives consecutive LSNs in the order of its records, between single appends', async (t) => {
  const log = await openLog(t, tempDir(t))
  const before = log.append('before')
  const batch = log.appendBatch([Buffer.from('a'), 'b', new Uint8Array([99]), Buffer.alloc(0)])
  const after = log.append('after')
  t.is(await before, 1)
  t.deepEqual(await batch, [2, 3, 4, 5])
  t.is(await after, 6)
  t.deepEqual(await log.appendBatch([]), [], 'an empty batch appends nothing')
  t.is(log.nextLsn, 7)
  t.true(log.durableLsn >= 6)
  const big = Array.from({ length: 1000 }, (_, i) => recordData(i, 100))
  const lsns = await log.appendBatch(big)
  t.deepEqual(lsns, Array.from({ length: 1000 }, (_, i) => 7 + i))
  await assertHolds(t, log, [Buffer.from('before'), Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.alloc(0), Buffer.from('after'), ...big])
})

test('appends of one tick are handed over in order even past the 1 MiB staged in JS: singles and a batch straddling a flush', async (t) => {
  const log = await openLog(t, tempDir(t))
  // ~1.5 MiB of single appends, then a batch of ~1 MiB that cannot fit what is left of the stage,
  // then more singles: the stage is flushed for room before the batch, never inside it.
  const singles = Array.from({ length: 12_000 }, (_, i) => recordData(i, 128))
  const batch = Array.from({ length: 100 }, (_, i) => recordData(100_000 + i, 10 * KiB))
  const after = Array.from({ length: 500 }, (_, i) => recordData(200_000 + i, 64))
  const singleLsns = singles.map((record) => log.append(record))
  const batchLsns = log.appendBatch(batch)
  const afterLsns = after.map((record) => log.append(record))
  t.is(log.nextLsn, 1 + singles.length + batch.length + after.length, 'nextLsn counts appends not yet handed over')
  t.deepEqual(await Promise.all(singleLsns), singles.map((_, i) => 1 + i))
  t.deepEqual(await batchLsns, batch.map((_, i) => 1 + singles.length + i))
  t.deepEqual(await Promise.all(afterLsns), after.map((_, i) => 1 + singles.length + batch.length + i))
  await assertHolds(t, log, [...singles, ...batch, ...after])
})

test('append takes strings (as UTF-8), typed arrays and DataViews by their viewed bytes, and empty records', async (t) => {
  const log = await openLog(t, tempDir(t))
  const backing = Buffer.from('0123456789abcdef')
  const floats = new Float64Array([1.5, -2.25])
  const records = [
    'héllo, log',
    backing.subarray(3, 9),
    new DataView(backing.buffer, backing.byteOffset + 10, 4),
    floats,
    new Uint16Array(backing.buffer, backing.byteOffset + 2, 3),
    '',
    Buffer.alloc(0),
  ]
  for (const record of records) await log.append(record)
  const expected = [
    Buffer.from('héllo, log', 'utf8'),
    Buffer.from('345678'),
    Buffer.from('abcd'),
    Buffer.from(floats.buffer),
    Buffer.from('234567'),
    Buffer.alloc(0),
    Buffer.alloc(0),
  ]
  await assertHolds(t, log, expected)
  t.true((await entriesOf(log))[0].data instanceof Buffer)
})

test('changing a buffer after append returns does not change the record', async (t) => {
  const log = await openLog(t, tempDir(t))
  const buffer = Buffer.from('original contents')
  const appended = log.append(buffer)
  buffer.fill(0)
  const batchBuffer = Buffer.from('batch contents')
  const batch = log.appendBatch([batchBuffer])
  batchBuffer.fill(1)
  await Promise.all([appended, batch])
  await assertHolds(t, log, [Buffer.from('original contents'), Buffer.from('batch contents')])
})

test('records larger than a segment, and than a 1 MiB read, are written and read back whole', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { segmentBytes: 64 * KiB })
  const records = [recordData(1, 10), recordData(2, 200 * KiB), recordData(3, 10), recordData(4, 3 * 1024 * KiB), recordData(5, 100)]
  t.deepEqual(await Promise.all(records.map((record) => log.append(record))), [1, 2, 3, 4, 5])
  await assertHolds(t, log, records)
  await log.close()
  const reopened = await openLog(t, dir, { segmentBytes: 64 * KiB })
  await assertHolds(t, reopened, records)
})

// ---- entries ------------------------------------------------------------------------------------

test('entries from the start and from a middle LSN yield exactly the records from there, across many reads', async (t) => {
  const log = await openLog(t, tempDir(t))
  // About 3 MiB of records, so one pass takes several of entries' 1 MiB reads.
  const records = Array.from({ length: 300 }, (_, i) => recordData(i, 10 * KiB + i))
  await log.appendBatch(records)
  await assertHolds(t, log, records)
  for (const from of [1, 2, 37, 150, 299, 300]) {
    const entries = await entriesOf(log, { from })
    t.deepEqual(
      entries.map((entry) => entry.lsn),
      records.slice(from - 1).map((_, i) => from + i),
      `entries({ from: ${from} })`,
    )
    t.true(entries.every((entry, i) => entry.data.equals(records[from - 1 + i])), `the data from ${from}`)
  }
  t.deepEqual(await entriesOf(log, { from: 301 }), [], 'from nextLsn: nothing yet')
  t.deepEqual(await entriesOf(log, { from: 5000 }), [], 'from past the end: nothing')
  t.deepEqual(
    (await entriesOf(log, { from: 0 })).map((entry) => entry.lsn),
    records.map((_, i) => i + 1),
    'from 0 reads from the first record',
  )
})

test('entries of a new log yield nothing, and entries yields only durable records while appends are in flight', async (t) => {
  const log = await openLog(t, tempDir(t))
  t.deepEqual(await entriesOf(log), [])
  const records = Array.from({ length: 3000 }, (_, i) => recordData(i))
  const appends = records.map((record) => log.append(record))
  const seen = []
  for await (const entry of log.entries()) {
    t.true(entry.lsn <= log.durableLsn, `LSN ${entry.lsn} read while durableLsn was ${log.durableLsn}`)
    seen.push(entry)
  }
  t.deepEqual(
    seen.map((entry) => entry.lsn),
    seen.map((_, i) => i + 1),
  )
  t.true(seen.every((entry) => entry.data.equals(records[entry.lsn - 1])))
  await Promise.all(appends)
  await assertHolds(t, log, records)
})

// A read starts at the record it wants (through the segment's sparse index), not at the segment's
// first record: checked here for records indexed as they were written and as recovery found them.
test('entries over one segment of many 1 MiB reads yields every record in order, from the start or any LSN, before and after reopening', async (t) => {
  const dir = tempDir(t)
  const options = { segmentBytes: 8 * 1024 * KiB }
  const log = await openLog(t, dir, options)
  // About 6 MiB: sizes from 0 to ~3 KiB, and every 400th record larger than a read.
  const records = []
  for (let bytes = 0; bytes < 6 * 1024 * KiB; ) {
    const i = records.length
    records.push(recordData(i, i % 400 === 399 ? 1200 * KiB : (i * 7919) % 3000))
    bytes += FRAME_BYTES + records[i].length
  }
  for (let i = 0; i < records.length; i += 500) await log.appendBatch(records.slice(i, i + 500))
  t.deepEqual(segmentFiles(dir), ['00000000000000000001.log'], 'one segment')
  const check = async (log, from, context) => {
    let expected = from
    for await (const entry of log.entries({ from })) {
      if (entry.lsn !== expected || !entry.data.equals(records[expected - 1])) {
        t.fail(`${context}: LSN ${entry.lsn} (${entry.data.toString('latin1', 0, 16)}...) where LSN ${expected} was expected`)
        return
      }
      expected++
    }
    t.is(expected, records.length + 1, `${context}: every record from ${from}`)
  }
  const froms = [1, 2, 399, 400, 401, Math.floor(records.length / 2), records.length]
  for (const from of froms) await check(log, from, 'as written')
  await log.close()
  const reopened = await openLog(t, dir, options)
  for (const from of froms) await check(reopened, from, 'recovered')
})

// ---- reopen, segments and truncate --------------------------------------------------------------

test('a reopened log holds every record and appends go on from the next LSN', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir)
  const records = Array.from({ length: 200 }, (_, i) => recordData(i, 1 + ((i * 37) % 700)))
  await Promise.all(records.map((record) => log.append(record)))
  await log.close()
  const reopened = await openLog(t, dir)
  t.is(reopened.firstLsn, 1)
  t.is(reopened.durableLsn, 200)
  t.is(reopened.nextLsn, 201)
  await assertHolds(t, reopened, records)
  t.is(await reopened.append('after reopening'), 201)
  await reopened.close()
  const third = await openLog(t, dir)
  await assertHolds(t, third, [...records, Buffer.from('after reopening')])
})

test('small segments roll; truncate drops whole old segments only, firstLsn moves, and it survives reopening', async (t) => {
  const dir = tempDir(t)
  const options = { segmentBytes: 64 * KiB }
  const log = await openLog(t, dir, options)
  const records = Array.from({ length: 4000 }, (_, i) => recordData(i, 100 + (i % 50)))
  for (let i = 0; i < records.length; i += 100) await Promise.all(records.slice(i, i + 100).map((record) => log.append(record)))
  const segments = segmentFiles(dir)
  t.true(segments.length >= 8, `${segments.length} segments of 64 KiB for ~600 KB of records`)
  for (const name of segments) t.true(fs.statSync(path.join(dir, name)).size >= 64 * KiB, `${name} is preallocated`)
  const bases = segments.map((name) => Number(name.slice(0, -'.log'.length)))
  t.is(bases[0], 1)
  await assertHolds(t, log, records)

  t.is(await log.truncate(1), 0, 'nothing is before LSN 1')
  t.is(await log.truncate(bases[1] - 1), 0, 'the first segment still holds LSN bases[1] - 1')
  const before = Math.floor((bases[3] + bases[4]) / 2)
  t.is(await log.truncate(before), 3, 'the three segments wholly before it')
  t.is(log.firstLsn, bases[3])
  t.true(log.firstLsn <= before, 'no record at or after beforeLsn is dropped')
  t.deepEqual(segmentFiles(dir), segments.slice(3))
  await assertHolds(t, log, records.slice(bases[3] - 1), bases[3])
  const fromDropped = await entriesOf(log, { from: 1 })
  t.is(fromDropped[0].lsn, bases[3], 'entries from a truncated LSN start at firstLsn')

  const more = Array.from({ length: 50 }, (_, i) => recordData(10_000 + i))
  const lsns = await Promise.all(more.map((record) => log.append(record)))
  t.is(lsns[0], 4001)
  await log.close()

  const reopened = await openLog(t, dir, options)
  t.is(reopened.firstLsn, bases[3])
  t.is(reopened.nextLsn, 4051)
  await assertHolds(t, reopened, [...records.slice(bases[3] - 1), ...more], bases[3])
  const olderSegments = segmentFiles(dir).length - 1
  t.is(await reopened.truncate(Number.MAX_SAFE_INTEGER), olderSegments, 'every segment but the active one')
  t.is(segmentFiles(dir).length, 1)
  const [active] = segmentFiles(dir)
  t.is(reopened.firstLsn, Number(active.slice(0, -4)))
  await reopened.close()
  const last = await openLog(t, dir, options)
  t.is(last.firstLsn, Number(active.slice(0, -4)))
  t.is(last.nextLsn, 4051)
  t.is((await entriesOf(last)).at(-1).data.toString('latin1', 0, 14), '<record 10049>')
})

// ---- one writer, close --------------------------------------------------------------------------

test('a second open of a directory that is open rejects with ERR_LOG_LOCKED and says who holds it', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir)
  await log.append('first writer')
  const error = await t.throwsAsync(Log.open(dir), { code: 'ERR_LOG_LOCKED' })
  t.true(error.message.includes(dir), error.message)
  t.regex(error.message, new RegExp(`open in another writer \\(pid ${process.pid}\\)`))
  t.notRegex(error.message, /\[\w+\]$/, 'no Rust error kind left in the message')
  // The refused open left the first writer alone.
  t.is(await log.append('still writing'), 2)
  await log.close()
  const reopened = await openLog(t, dir)
  await assertHolds(t, reopened, [Buffer.from('first writer'), Buffer.from('still writing')])
})

test('another process cannot open a directory this one has open', async (t) => {
  const dir = tempDir(t)
  await openLog(t, dir)
  const source = `import { Log } from 'rio-uring/log'
    try { await Log.open(${JSON.stringify(dir)}); console.log('opened') } catch (error) { console.log(error.code, error.message) }`
  const run = await runProcess(process.execPath, ['--input-type=module', '-e', source], { cwd: root, timeoutMs: 20_000 })
  t.is(run.status, 0, run.stderr)
  t.regex(run.stdout, new RegExp(`^ERR_LOG_LOCKED .*another writer \\(pid ${process.pid}\\)`))
})

test('after close, appends reject with ERR_INVALID_STATE and the directory opens again', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir)
  await log.append('kept')
  await log.close()
  await t.throwsAsync(log.append('late'), { code: 'ERR_INVALID_STATE', message: /closed/ })
  await t.throwsAsync(log.appendBatch(['late']), { code: 'ERR_INVALID_STATE', message: /closed/ })
  await t.notThrowsAsync(log.close(), 'close is idempotent')
  const reopened = await openLog(t, dir)
  await assertHolds(t, reopened, [Buffer.from('kept')])
})

test('close waits for the appends made before it, and they all resolve', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir)
  const records = Array.from({ length: 300 }, (_, i) => recordData(i))
  const appends = records.map((record) => log.append(record))
  const closing = log.close()
  t.deepEqual(await Promise.all(appends), records.map((_, i) => i + 1))
  await closing
  const reopened = await openLog(t, dir)
  await assertHolds(t, reopened, records)
})

// After close the directory may belong to another writer: truncate must not touch it.
test('truncate on a closed log rejects with ERR_INVALID_STATE and removes nothing', async (t) => {
  const dir = tempDir(t)
  const log = await openLog(t, dir, { segmentBytes: 64 * KiB })
  await log.appendBatch(Array.from({ length: 2000 }, (_, i) => recordData(i, 100)))
  const segments = segmentFiles(dir)
  t.true(segments.length > 2)
  await log.close()
  // The directory is unlocked now: another writer may own it, so this handle must not touch it.
  await t.throwsAsync(log.truncate(2000), { code: 'ERR_INVALID_STATE' })
  t.deepEqual(segmentFiles(dir), segments)
})

test('an idle open log does not hold the process open, and a pending append holds it until durable', async (t) => {
  const dir = tempDir(t)
  const source = `import { Log } from 'rio-uring/log'
    const log = await Log.open(${JSON.stringify(dir)})
    log.append('not awaited').then((lsn) => console.log('durable', lsn))`
  const run = await runProcess(process.execPath, ['--input-type=module', '-e', source], { cwd: root, timeoutMs: 20_000 })
  t.false(run.timedOut, 'the process did not exit on its own')
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout, 'durable 1\n')
  const log = await openLog(t, dir)
  await assertHolds(t, log, [Buffer.from('not awaited')])
})

test('await using closes the log', async (t) => {
  const dir = tempDir(t)
  {
    const log = await Log.open(dir)
    await log.append('disposed')
    await log[Symbol.asyncDispose]()
    await t.throwsAsync(log.append('x'), { code: 'ERR_INVALID_STATE' })
  }
  const reopened = await openLog(t, dir)
  await assertHolds(t, reopened, [Buffer.from('disposed')])
})

// ---- arguments ----------------------------------------------------------------------------------

test('append and appendBatch of something that is not bytes reject with ERR_INVALID_ARG_TYPE and append nothing', async (t) => {
  const log = await openLog(t, tempDir(t))
  for (const bad of [123, null, undefined, {}, [1, 2], true, new ArrayBuffer(4), Symbol('s')]) {
    let promise
    t.notThrows(() => {
      promise = log.append(bad)
    }, 'append threw instead of rejecting')
    await t.throwsAsync(promise, { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /^The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView\. Received / })
  }
  await t.throwsAsync(log.appendBatch('abc'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"records" argument must be an instance of Array/ })
  await t.throwsAsync(log.appendBatch([Buffer.from('ok'), 5]), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"records\[1\]"/ })
  t.is(log.nextLsn, 1, 'a refused batch appends none of its records')
  t.is(await log.append('good'), 1)
})

test('a record over the 64 MiB limit rejects, appends nothing, and the log goes on without a gap', async (t) => {
  const log = await openLog(t, tempDir(t))
  await log.append('first')
  await t.throwsAsync(log.append(Buffer.alloc(64 * 1024 * KiB + 1)), { message: /It must be <= 67108864\. Received 67108865/ })
  await t.throwsAsync(log.appendBatch(['ok', Buffer.alloc(64 * 1024 * KiB + 1)]), { message: /out of range/ })
  t.is(log.nextLsn, 2, 'no LSN was taken by the refused records (nor by the batch they were in)')
  t.is(await log.append('second'), 2)
  await assertHolds(t, log, [Buffer.from('first'), Buffer.from('second')])
})

test('a record over the 64 MiB limit is a RangeError with ERR_OUT_OF_RANGE, as Node reports a value out of range', async (t) => {
  const log = await openLog(t, tempDir(t))
  await t.throwsAsync(log.append(Buffer.alloc(64 * 1024 * KiB + 1)), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
})

test('Log.open with a bad dir or out-of-range options rejects with Node ERR_* errors', async (t) => {
  const dir = tempDir(t)
  await t.throwsAsync(Log.open(123), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"dir" argument must be of type string/ })
  for (const segmentBytes of [0, 4096, 65536 - 4096, 65536 + 1, 100_000, -65536, 65536 + 2048, Number.NaN, Number.POSITIVE_INFINITY]) {
    await t.throwsAsync(Log.open(dir, { segmentBytes }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /"options\.segmentBytes" is out of range/ }, `segmentBytes ${segmentBytes}`)
  }
  for (const pipeline of [0, -1, 65, 1.5]) {
    await t.throwsAsync(Log.open(dir, { pipeline }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /"options\.pipeline" is out of range/ }, `pipeline ${pipeline}`)
  }
  await t.throwsAsync(Log.open(dir, { backend: 'uring' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /'options\.backend'/ })
  // None of the refused opens took the lock.
  const log = await openLog(t, dir, { segmentBytes: 65536, pipeline: 64 })
  t.is(await log.append('x'), 1)
})

test('Log.open rejects options of the wrong type with ERR_INVALID_ARG_TYPE, as Node validates its options', async (t) => {
  const dir = tempDir(t)
  await t.throwsAsync(Log.open(dir, null), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options" argument must be of type object/ })
  await t.throwsAsync(Log.open(dir, 'direct'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options" argument must be of type object/ })
  await t.throwsAsync(Log.open(dir, { segmentBytes: '65536' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options\.segmentBytes" property must be of type number/ })
  await t.throwsAsync(Log.open(dir, { pipeline: '2' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options\.pipeline" property must be of type number/ })
  await t.throwsAsync(Log.open(dir, { direct: 'yes' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options\.direct" property must be of type boolean/ })
})

test('Log.open of a path that is a file rejects with the system error, its syscall and path', async (t) => {
  const file = path.join(tempDir(t), 'not-a-dir')
  fs.writeFileSync(file, 'x')
  const error = await t.throwsAsync(Log.open(file))
  t.true(['EEXIST', 'ENOTDIR'].includes(error.code), `code ${error.code}: ${error.message}`)
  t.true(error.errno < 0)
  t.is(error.path, file)
  t.is(typeof error.syscall, 'string')
})

test('entries and truncate reject bad LSNs with ERR_INVALID_ARG_TYPE and ERR_OUT_OF_RANGE', async (t) => {
  const log = await openLog(t, tempDir(t))
  await log.append('x')
  await t.throwsAsync(log.entries({ from: -1 }).next(), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /"options\.from"/ })
  await t.throwsAsync(log.entries({ from: 1.5 }).next(), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(log.entries({ from: '1' }).next(), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options\.from" property must be of type number/ })
  await t.throwsAsync(log.truncate(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /"beforeLsn"/ })
  await t.throwsAsync(log.truncate(2 ** 60), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(log.truncate('5'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"beforeLsn" argument must be of type number/ })
  await t.throwsAsync(log.truncate(), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

// ---- O_DIRECT -----------------------------------------------------------------------------------

directTest(directTitle('direct: true writes batches that read back, reopen (direct or not) and roll'), async (t) => {
  const dir = tempDir(t)
  const options = { direct: true, segmentBytes: 64 * KiB }
  const log = await openLog(t, dir, options)
  // Concurrent appends make batches of many sizes, each written as whole 4 KiB blocks.
  const records = Array.from({ length: 1500 }, (_, i) => recordData(i, 1 + ((i * 53) % 300)))
  for (let i = 0; i < records.length; i += 150) await Promise.all(records.slice(i, i + 150).map((record) => log.append(record)))
  for (const record of records.slice(0, 20)) await log.append(record)
  const expected = [...records, ...records.slice(0, 20)]
  t.true(segmentFiles(dir).length > 2, 'the segments rolled')
  await assertHolds(t, log, expected)
  await log.close()

  const buffered = await openLog(t, dir, { segmentBytes: 64 * KiB })
  await assertHolds(t, buffered, expected)
  await buffered.append('buffered after direct')
  await buffered.close()

  const direct = await openLog(t, dir, options)
  await direct.append('direct after buffered')
  await assertHolds(t, direct, [...expected, Buffer.from('buffered after direct'), Buffer.from('direct after buffered')])
  await direct.close()
  const last = await openLog(t, dir, options)
  await assertHolds(t, last, [...expected, Buffer.from('buffered after direct'), Buffer.from('direct after buffered')])
})

// A direct log reopened starts at the next block boundary. Padding of fewer than 16 bytes
// (FRAME_BYTES) is followed by the next batch's frame within the 16 bytes recovery first reads:
// recovery must see the padding, not a corrupt record.
directTest(directTitle('direct: a batch that ends less than a frame before a block boundary, and the batches after it, survive reopening'), async (t) => {
  for (const padding of [1, 8, 15]) {
    const dir = tempDir(t)
    const log = await openLog(t, dir, { direct: true })
    // The first record starts a block (after the 4096-byte header) and ends `padding` bytes short of the next.
    const records = [recordData(1, 4096 - FRAME_BYTES - padding), recordData(2), recordData(3)]
    await appendEach(log, records.slice(0, 1))
    await log.close()
    const padded = await openLog(t, dir, { direct: true })
    await appendEach(padded, records.slice(1))
    await padded.close()
    const reopened = await openLog(t, dir, { direct: true })
    await assertHolds(t, reopened, records)
    await reopened.close()
  }
})

// ---- recovery: corruption, torn tails, stale records --------------------------------------------

/** A closed log in a fresh dir holding `count` records, each appended as its own batch. */
async function closedLog(t, count, options = {}) {
  const dir = tempDir(t)
  const log = await Log.open(dir, options)
  const records = Array.from({ length: count }, (_, i) => recordData(i + 1))
  await appendEach(log, records)
  await log.close()
  return { dir, records }
}

for (const [part, at] of [
  ['data', (offset) => offset + 5],
  ['length', (offset) => offset - FRAME_BYTES],
  ['CRC', (offset) => offset - FRAME_BYTES + 4],
  ['LSN', (offset) => offset - FRAME_BYTES + 8],
]) {
  test(`a flipped byte in a record's ${part}: reopen returns the records before it, nothing after, and appends go on from it`, async (t) => {
    const { dir, records } = await closedLog(t, 30)
    const { file, offset } = locate(dir, Buffer.from('<record 12>'))
    flipByte(file, at(offset))
    const log = await openLog(t, dir)
    await assertHolds(t, log, records.slice(0, 11))
    t.is(log.durableLsn, 11)
    t.is(await log.append('new 12'), 12)
    await log.append('new 13')
    await assertHolds(t, log, [...records.slice(0, 11), Buffer.from('new 12'), Buffer.from('new 13')])
    await log.close()
    const reopened = await openLog(t, dir)
    await assertHolds(t, reopened, [...records.slice(0, 11), Buffer.from('new 12'), Buffer.from('new 13')])
  })
}

test('a corrupt record in an old segment cuts the log there: later segments are gone for good', async (t) => {
  const dir = tempDir(t)
  const options = { segmentBytes: 64 * KiB }
  const log = await Log.open(dir, options)
  const records = Array.from({ length: 3000 }, (_, i) => recordData(i + 1, 100))
  await log.appendBatch(records)
  await log.close()
  const segments = segmentFiles(dir)
  t.true(segments.length >= 4)
  const second = Number(segments[1].slice(0, -4))
  const { file, offset } = locate(dir, Buffer.from(`<record ${second + 10}>`))
  t.is(path.basename(file), segments[1])
  flipByte(file, offset + 50)
  const reopened = await openLog(t, dir, options)
  await assertHolds(t, reopened, records.slice(0, second + 9))
  t.deepEqual(segmentFiles(dir), segments.slice(0, 2))
  const more = Array.from({ length: 1000 }, (_, i) => recordData(50_000 + i, 100))
  await reopened.appendBatch(more)
  await reopened.close()
  const last = await openLog(t, dir, options)
  await assertHolds(t, last, [...records.slice(0, second + 9), ...more])
})

test('a corrupt segment header loses that segment and the ones after it, never returning their bytes', async (t) => {
  const dir = tempDir(t)
  const options = { segmentBytes: 64 * KiB }
  const log = await Log.open(dir, options)
  const records = Array.from({ length: 2000 }, (_, i) => recordData(i + 1, 100))
  await log.appendBatch(records)
  await log.close()
  const segments = segmentFiles(dir)
  const third = Number(segments[2].slice(0, -4))
  flipByte(path.join(dir, segments[2]), 20)
  const reopened = await openLog(t, dir, options)
  await assertHolds(t, reopened, records.slice(0, third - 1))
  t.is(await reopened.append('after'), third)
})

test('a torn tail (garbage, or a half-written record, after the last record) is ignored and overwritten', async (t) => {
  for (const [kind, tail] of [
    ['garbage', (next) => Buffer.from('\x07\x00\x00\x00garbage that is no record at all'.repeat(4), 'latin1')],
    [
      'half a record',
      (next) => {
        // The frame of the next LSN with its length and LSN right, and only part of its data.
        const frame = Buffer.alloc(FRAME_BYTES + 60)
        frame.writeUInt32LE(200, 0)
        frame.writeUInt32LE(0x12345678, 4)
        frame.writeBigUInt64LE(BigInt(next), 8)
        frame.fill(0x41, FRAME_BYTES)
        return frame
      },
    ],
  ]) {
    const { dir, records } = await closedLog(t, 20)
    const last = locate(dir, Buffer.from('<record 20>'))
    writeAt(last.file, tail(21), last.offset + records[19].length)
    // Garbage after the end of the preallocated file too.
    fs.appendFileSync(last.file, Buffer.from('trailing garbage past the preallocated end'))
    const log = await openLog(t, dir)
    await assertHolds(t, log, records)
    t.is(await log.append(`after ${kind}`), 21, kind)
    await log.close()
    const reopened = await openLog(t, dir)
    await assertHolds(t, reopened, [...records, Buffer.from(`after ${kind}`)])
    await reopened.close()
  }
})

// Pipelined batches (or writeback after a power loss) can leave a hole: a later batch's records on
// disk while an earlier batch's bytes never got there. Recovery stops at the hole; the records
// past it were never acknowledged and must stay dead, even once new appends have filled the hole
// so that the next LSN expected lines up with one of them again.
// Recovery must cut (zero) what lies past the end it found, or those bytes come back.
test('records past a hole stay dead after new appends of the same sizes fill the hole', async (t) => {
  const { dir, records } = await closedLog(t, 10)
  const fifth = locate(dir, Buffer.from('<record 5>'))
  // Records 5..7 never reached the disk; 8..10 did.
  writeAt(fifth.file, Buffer.alloc(3 * (FRAME_BYTES + records[4].length)), fifth.offset - FRAME_BYTES)
  const log = await openLog(t, dir)
  await assertHolds(t, log, records.slice(0, 4))
  // New records 5..7, framed to the same sizes as the lost ones.
  const refill = [5, 6, 7].map((lsn) => Buffer.from(`<new    ${lsn}>`.padEnd(records[lsn - 1].length, '.')))
  t.deepEqual(await appendEach(log, refill), [5, 6, 7])
  await log.close()
  const reopened = await openLog(t, dir)
  await assertHolds(t, reopened, [...records.slice(0, 4), ...refill])
})

directTest(directTitle('direct: records past a hole stay dead after new appends fill it'), async (t) => {
  const { dir, records } = await closedLog(t, 10, { direct: true })
  // Each record went as its own batch, packed behind the one before (its block written again).
  const fifth = locate(dir, Buffer.from('<record 5>'))
  const sixth = locate(dir, Buffer.from('<record 6>'))
  t.is(sixth.offset - fifth.offset, FRAME_BYTES + records[4].length, 'batches are back to back, not padded to blocks')
  writeAt(fifth.file, Buffer.alloc(3 * (FRAME_BYTES + records[4].length)), fifth.offset - FRAME_BYTES)
  const log = await openLog(t, dir, { direct: true })
  await assertHolds(t, log, records.slice(0, 4))
  const refill = [5, 6, 7].map((lsn) => Buffer.from(`<new    ${lsn}>`.padEnd(records[lsn - 1].length, '.')))
  t.deepEqual(await appendEach(log, refill), [5, 6, 7])
  await log.close()
  const reopened = await openLog(t, dir, { direct: true })
  await assertHolds(t, reopened, [...records.slice(0, 4), ...refill])
})

// Direct (O_DIRECT | O_DSYNC) writes are the default where the file system takes them.
test('a log writes direct by default where the file system takes O_DIRECT, buffered with direct: false', async (t) => {
  t.is((await openLog(t, tempDir(t))).direct, directRefused === null, `direct by default in ${os.tmpdir()} exactly when it takes O_DIRECT`)
  t.false((await openLog(t, tempDir(t), { direct: false })).direct)
})

// Where open(2) refuses O_DIRECT (EINVAL: tmpfs before Linux 6.6, FUSE, ...), simulated here by
// failing the log's probe: the default falls back to buffered writes; direct: true rejects.
test.serial('a file system that refuses O_DIRECT gets buffered writes by default, and direct: true rejects with EINVAL', async (t) => {
  const dir = tempDir(t)
  native.setLogFailpoint('log::direct_probe', '1*return(22)')
  t.teardown(() => native.setLogFailpoint('log::direct_probe', ''))
  const fallback = await openLog(t, dir)
  t.false(fallback.direct, 'the default falls back to buffered writes')
  t.deepEqual(await Promise.all([fallback.append('refused 1'), fallback.append('refused 2')]), [1, 2])
  await fallback.close()
  native.setLogFailpoint('log::direct_probe', '1*return(22)')
  const refused = await t.throwsAsync(Log.open(dir, { direct: true }), { code: 'EINVAL', message: /O_DIRECT/ })
  t.like(refused, { errno: -22, syscall: 'open', path: dir })
  native.setLogFailpoint('log::direct_probe', '')
  await assertHolds(t, await openLog(t, dir, { direct: false }), [Buffer.from('refused 1'), Buffer.from('refused 2')])
})

// `npm run bench`: rio-uring against Node's own APIs (and fio, when installed), each pair measured
// in the same run on the same file. Prints a table of medians and ratios; `--json` prints JSON.
//
//   node benchmark/run.mjs [--json] [--quick] [--runs=N] [--only=name,name] [--dir=path]
//
// Cases (the targets are issue 4's):
//   read-qd32     warm 4 KiB random reads, 32 in flight, one await each   vs fs/promises, fio
//   read-qd1      warm, 1 in flight                                      vs fs/promises
//   read-batch    warm, readBatch (64 reads a call, 2 calls in flight)   vs fio, fs.readSync
//   direct-qd32   cold, O_DIRECT, aligned, 32 in flight                  vs fio direct, fs/promises cold
//   nop-qd32      nop round trips, 32 in flight
//   write-1m      1 MiB sequential writes (4 in flight), then fdatasync  vs fs/promises
//   fs            rio-uring/fs readFile and writeFile of 4 KiB (32 in flight), 1 MiB (4 in flight)
//                 and 64 MiB files (1 in flight), and stat (32 in flight) vs fs/promises
//   net           128 B echo with 64/256/1000 connections vs node:net and a Rust echo on crates/rio,
//                 and node:http over rio vs plain node:http (load from a Rust process: benchmark/net)
//   log           64 appenders of 128 B records, each awaiting durability, vs fs/promises
//                 write+datasync, lmdb and better-sqlite3 (benchmark/log.mjs)
//   rss-10m       resident memory growth over 10 million reads (skipped with --quick)
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Ring } from 'rio-uring'
import rioFs from 'rio-uring/fs'
import { concurrent, ensureFile, evict, fio, hasFio, machine, measure, table, warm } from './harness.mjs'
import { netCase } from './net.mjs'

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=')
    return [key, value ?? true]
  }),
)
const quick = Boolean(args.quick)
const runs = Number(args.runs ?? (quick ? 3 : 5))
const only = args.only ? new Set(String(args.only).split(',')) : null
const dir = args.dir ?? path.join(os.tmpdir(), 'rio-uring-bench')
fs.mkdirSync(dir, { recursive: true })

const GiB = 1 << 30
const file = path.join(dir, 'random-1g')
const blockSize = 4096
const blocks = GiB / blockSize
const log = args.json ? () => {} : (...line) => console.error(...line)

log(`preparing ${file} (1 GiB)...`)
ensureFile(file, GiB)

const randomPosition = () => Math.floor(Math.random() * blocks) * blockSize
const rows = []
const fioAvailable = hasFio()

function row(name, rio, baseline, baselineValue, target, unit) {
  rows.push({ case: name, rio, baseline, baselineValue, ratio: baselineValue ? rio / baselineValue : null, target, unit })
  log(`  ${name}: rio ${rio.toFixed(0)}${baseline ? `, ${baseline} ${baselineValue?.toFixed(0)}` : ''}`)
}

/** Alternates the two sides run by run, so drift hits both; medians of each. */
async function pair(first, second) {
  const a = []
  const b = []
  for (let i = 0; i < runs; i++) {
    a.push(await first())
    b.push(await second())
  }
  const median = (values) => values.sort((x, y) => x - y)[values.length >> 1]
  return [median(a), median(b)]
}

const ring = new Ring()
const backend = ring.backend
log(`backend: ${backend}`)
const readCount = quick ? 100_000 : 400_000

async function rioReads(fd, depth, count = readCount) {
  const buffers = Array.from({ length: depth }, () => Buffer.alloc(blockSize))
  let next = 0
  return concurrent(count, depth, () => {
    const buffer = buffers[next++ % depth]
    return ring.readAt(fd, buffer, randomPosition())
  })
}

async function nodeReads(handle, depth, count = readCount / 4) {
  const buffers = Array.from({ length: depth }, () => Buffer.alloc(blockSize))
  let next = 0
  return concurrent(count, depth, () => handle.read(buffers[next++ % depth], 0, blockSize, randomPosition()))
}

function fioRandRead(depth, extra) {
  return fio([
    `--filename=${file}`, '--rw=randread', `--bs=${blockSize}`, '--ioengine=io_uring', `--iodepth=${depth}`,
    '--runtime=3', '--time_based', `--size=${GiB}`, ...extra,
  ])
}

const cases = {
  async 'read-qd32'() {
    warm(file)
    const fd = fs.openSync(file, 'r')
    const handle = await fsp.open(file, 'r')
    await rioReads(fd, 32, 50_000)
    const [rio, node] = await pair(() => rioReads(fd, 32), () => nodeReads(handle, 32))
    row('warm 4 KiB reads, 32 in flight', rio, 'fs/promises read', node, '≥ 5.5×')
    if (fioAvailable) {
      const fioRate = (await measure(() => fioRandRead(32, ['--invalidate=0']), Math.min(runs, 3))).median
      row('warm 4 KiB reads, 32 in flight', rio, 'fio io_uring QD32', fioRate, '≥ 1.4×')
    }
    await handle.close()
    fs.closeSync(fd)
  },

  async 'read-qd1'() {
    warm(file)
    const fd = fs.openSync(file, 'r')
    const handle = await fsp.open(file, 'r')
    const [rio, node] = await pair(() => rioReads(fd, 1, readCount / 2), () => nodeReads(handle, 1, readCount / 16))
    row('warm 4 KiB reads, 1 in flight', rio, 'fs/promises read', node, '≥ 8×')
    await handle.close()
    fs.closeSync(fd)
  },

  async 'read-batch'() {
    warm(file)
    const fd = fs.openSync(file, 'r')
    const batch = 64
    const batchReads = () => {
      const count = readCount * 2
      let done = 0
      const started = process.hrtime.bigint()
      const loop = async () => {
        const buffers = Array.from({ length: batch }, () => Buffer.alloc(blockSize))
        const positions = new Array(batch)
        while (done < count) {
          for (let i = 0; i < batch; i++) positions[i] = randomPosition()
          done += batch
          await ring.readBatch(fd, buffers, positions)
        }
      }
      return Promise.all([loop(), loop()]).then(() => count / (Number(process.hrtime.bigint() - started) / 1e9))
    }
    const readSync = () => {
      const buffer = Buffer.alloc(blockSize)
      const count = readCount
      const started = process.hrtime.bigint()
      for (let i = 0; i < count; i++) fs.readSync(fd, buffer, 0, blockSize, randomPosition())
      return count / (Number(process.hrtime.bigint() - started) / 1e9)
    }
    const [rio, sync] = await pair(batchReads, readSync)
    row('warm 4 KiB reads, readBatch', rio, 'fs.readSync', sync, 'reported')
    if (fioAvailable) {
      const fioRate = (await measure(() => fioRandRead(32, ['--invalidate=0']), Math.min(runs, 3))).median
      row('warm 4 KiB reads, readBatch', rio, 'fio io_uring QD32', fioRate, '≥ 1.9×')
    }
    fs.closeSync(fd)
  },

  async 'direct-qd32'() {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
    const count = quick ? 30_000 : 100_000
    const [rio, node] = await pair(
      () => {
        evict(file)
        return rioReads(fd, 32, count)
      },
      async () => {
        log(`  eviction: ${evict(file)}`)
        const handle = await fsp.open(file, 'r')
        const rate = await nodeReads(handle, 32, count / 2)
        await handle.close()
        return rate
      },
    )
    row('cold 4 KiB O_DIRECT reads, 32 in flight', rio, 'fs/promises read, cold', node, '≥ 1.8×')
    if (fioAvailable) {
      const fioRate = (await measure(() => fioRandRead(32, ['--direct=1']), Math.min(runs, 3))).median
      row('cold 4 KiB O_DIRECT reads, 32 in flight', rio, 'fio io_uring O_DIRECT QD32', fioRate, '≥ 0.95×')
    }
    fs.closeSync(fd)
  },

  async 'nop-qd32'() {
    const count = quick ? 500_000 : 2_000_000
    await concurrent(100_000, 32, () => ring.nop())
    const { median } = await measure(() => concurrent(count, 32, () => ring.nop()), runs)
    row('nop round trips, 32 in flight', median, null, null, '≥ 2M/s')
  },

  async 'write-1m'() {
    const target = path.join(dir, 'write-target')
    const chunk = Buffer.alloc(1 << 20, 0x5a)
    const total = quick ? 64 : 256
    const depth = 4
    const writeAll = async (write, datasync) => {
      const started = process.hrtime.bigint()
      let next = 0
      await Promise.all(Array.from({ length: depth }, async () => {
        while (next < total) {
          const index = next++
          await write(chunk, index * chunk.length)
        }
      }))
      await datasync()
      return total / (Number(process.hrtime.bigint() - started) / 1e9)
    }
    const [rio, node] = await pair(
      async () => {
        const fd = fs.openSync(target, 'w')
        const rate = await writeAll((buffer, at) => ring.writeAt(fd, buffer, at), () => ring.fdatasync(fd))
        fs.closeSync(fd)
        return rate
      },
      async () => {
        const handle = await fsp.open(target, 'w')
        const rate = await writeAll((buffer, at) => handle.write(buffer, 0, buffer.length, at), () => handle.datasync())
        await handle.close()
        return rate
      },
    )
    row('1 MiB sequential writes + fdatasync', rio, 'fs/promises write', node, '≥ 1×', 'MiB/s')
    fs.rmSync(target, { force: true })
  },

  async fs() {
    const MiB = 1 << 20
    const sizes = [
      { label: '4 KiB', bytes: 4096, depth: 32, count: quick ? 20_000 : 60_000, unit: undefined },
      { label: '1 MiB', bytes: MiB, depth: 4, count: quick ? 400 : 1500, unit: 'MiB/s' },
      { label: '64 MiB', bytes: 64 * MiB, depth: 1, count: quick ? 6 : 20, unit: 'MiB/s' },
    ]
    for (const { label, bytes, depth, count, unit } of sizes) {
      const data = Buffer.alloc(bytes, 0x5a)
      const source = path.join(dir, `fs-read-${bytes}`)
      fs.writeFileSync(source, data)
      // Files per second, or MiB per second for the big ones.
      const scale = unit === 'MiB/s' ? bytes / MiB : 1
      const reads = (module) => async () => scale * (await concurrent(count, depth, () => module.readFile(source)))
      const target = (index) => path.join(dir, `fs-write-${index % depth}`)
      const writes = (module) => async () => scale * (await concurrent(count, depth, (index) => module.writeFile(target(index), data)))
      await reads(rioFs)()
      await reads(fsp)()
      const [rioRead, nodeRead] = await pair(reads(rioFs), reads(fsp))
      row(`readFile ${label}, ${depth} in flight`, rioRead, 'fs/promises readFile', nodeRead, '≥ 1×', unit)
      const [rioWrite, nodeWrite] = await pair(writes(rioFs), writes(fsp))
      row(`writeFile ${label}, ${depth} in flight`, rioWrite, 'fs/promises writeFile', nodeWrite, '≥ 1×', unit)
      fs.rmSync(source, { force: true })
      for (let index = 0; index < depth; index++) fs.rmSync(target(index), { force: true })
    }
    const statted = path.join(dir, 'fs-stat')
    fs.writeFileSync(statted, 'x')
    const stats = (module) => () => concurrent(quick ? 50_000 : 200_000, 32, () => module.stat(statted))
    await stats(rioFs)()
    const [rioStat, nodeStat] = await pair(stats(rioFs), stats(fsp))
    row('stat, 32 in flight', rioStat, 'fs/promises stat', nodeStat, '≥ 1×')
    fs.rmSync(statted, { force: true })
  },

  async net() {
    await netCase({ runs, quick, row, log })
  },

  async log() {
    const { logCase } = await import('./log.mjs').catch(() => ({ logCase: null }))
    if (logCase === null) return log('  (benchmark/log.mjs not present)')
    await logCase({ runs: Math.min(runs, 3), quick, row, log, dir })
  },

  async 'rss-10m'() {
    if (quick) return
    warm(file)
    const fd = fs.openSync(file, 'r')
    await rioReads(fd, 32, 200_000)
    globalThis.gc?.()
    const before = process.memoryUsage.rss()
    await rioReads(fd, 32, 10_000_000)
    globalThis.gc?.()
    const grown = (process.memoryUsage.rss() - before) / 2 ** 20
    row('RSS growth over 10M reads', grown, null, null, '< 10 MiB', 'MiB')
    fs.closeSync(fd)
  },
}

for (const [name, run] of Object.entries(cases)) {
  if (only && !only.has(name)) continue
  log(`${name}...`)
  await run()
}
await ring.close()

const report = { machine: machine(), backend, runs, rows }
if (args.json) {
  console.log(JSON.stringify(report, null, 2))
} else {
  const m = report.machine
  console.log(`\n${m.cpu}, ${m.memory}, Linux ${m.kernel}, Node ${m.node}, backend ${report.backend}, medians of ${runs} runs\n`)
  console.log(table(rows))
}

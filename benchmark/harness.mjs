// The benchmark harness: timed loops, medians, page-cache control, fio, and the report table.
// Benchmarks are not tests: nothing here asserts, it measures and prints.
import fs from 'node:fs'
import os from 'node:os'
import { execFileSync, spawnSync } from 'node:child_process'

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Runs `once()` (which resolves to ops per second) `runs` times; the median and every run. */
export async function measure(once, runs) {
  const samples = []
  for (let i = 0; i < runs; i++) samples.push(await once())
  return { median: median(samples), samples }
}

/** Ops per second of `count` ops issued by `depth` concurrent async loops. */
export async function concurrent(count, depth, op) {
  let issued = 0
  const started = process.hrtime.bigint()
  async function loop() {
    while (issued < count) {
      const index = issued++
      await op(index)
    }
  }
  await Promise.all(Array.from({ length: depth }, loop))
  return count / (Number(process.hrtime.bigint() - started) / 1e9)
}

/** Evicts a file from the page cache: drop_caches when root can, else POSIX_FADV_DONTNEED. */
export function evict(path) {
  fs.writeFileSync(path + '.sync-marker', '')
  fs.rmSync(path + '.sync-marker')
  try {
    execFileSync('sync')
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3')
    return 'drop_caches'
  } catch {}
  const python = spawnSync('python3', ['-c', `import os; fd = os.open(${JSON.stringify(path)}, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)`])
  return python.status === 0 ? 'fadvise' : 'none (cannot evict: cold figures are not cold)'
}

/** Reads the whole file once so it is in the page cache. */
export function warm(path) {
  const fd = fs.openSync(path, 'r')
  const chunk = Buffer.allocUnsafe(1 << 20)
  while (fs.readSync(fd, chunk, 0, chunk.length, null) > 0);
  fs.closeSync(fd)
}

/** A file of `bytes` random bytes at `path`, made once and reused. */
export function ensureFile(path, bytes) {
  try {
    if (fs.statSync(path).size === bytes) return
  } catch {}
  const fd = fs.openSync(path, 'w')
  const chunk = Buffer.allocUnsafe(8 << 20)
  for (let written = 0; written < bytes; written += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i)
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written))
  }
  fs.fsyncSync(fd)
  fs.closeSync(fd)
}

export function hasFio() {
  return spawnSync('fio', ['--version']).status === 0
}

/** fio's IOPS for a job (`--invalidate=0` keeps a warm file warm; cold jobs evict first). */
export function fio(args) {
  const out = execFileSync('fio', ['--output-format=json', '--name=bench', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0]
  return job.read.iops + job.write.iops
}

export function machine() {
  const cpus = os.cpus()
  return {
    cpu: `${cpus[0]?.model ?? 'unknown'} × ${cpus.length}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: os.release(),
    node: process.version,
  }
}

function format(value, unit) {
  if (value == null) return '-'
  if (unit === 'MiB/s') return `${value.toFixed(0)} MiB/s`
  if (unit === 'MiB') return `${value.toFixed(1)} MiB`
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M/s`
  if (value >= 1e3) return `${(value / 1e3).toFixed(0)}k/s`
  return `${value.toFixed(0)}/s`
}

/** The report: one row per comparison, with the ratio and the target. */
export function table(rows) {
  const header = ['case', 'rio-uring', 'baseline', 'baseline median', 'ratio', 'target']
  const lines = rows.map((row) => [
    row.case,
    format(row.rio, row.unit),
    row.baseline ?? '-',
    format(row.baselineValue, row.unit),
    row.ratio == null ? '-' : `${row.ratio.toFixed(2)}×`,
    row.target ?? '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)))
  const render = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n')
}

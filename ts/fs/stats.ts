/**
 * `fs.Stats` and `BigIntStats` objects from a statx result, built so that they are what Node's
 * `stat` returns: the same prototype (so `instanceof fs.Stats` and `isFile()` work), the same own
 * fields in the same order. The field list is read off this Node's own stats once, so it follows
 * the Node version (Node 20 has own Date fields, later versions lazy getters).
 * @packageDocumentation
 */
import * as nodeFs from 'node:fs'
import type { PathArgument, Ring, Statx } from '../ring.js'

const sample = nodeFs.statSync('/')
const bigSample = nodeFs.statSync('/', { bigint: true })
const numberShape = { prototype: Object.getPrototypeOf(sample) as object, keys: Object.keys(sample) }
const bigintShape = { prototype: Object.getPrototypeOf(bigSample) as object, keys: Object.keys(bigSample) }

const dateKeys: Record<string, 'atimeMs' | 'mtimeMs' | 'ctimeMs' | 'birthtimeMs'> = {
  atime: 'atimeMs',
  mtime: 'mtimeMs',
  ctime: 'ctimeMs',
  birthtime: 'birthtimeMs',
}

/**
 * A Date as Node makes it from a stat time: from the milliseconds, rounded (for BigIntStats those
 * are the nanoseconds divided by 1e6, truncated).
 */
function dateOf(stat: Statx<number> | Statx<bigint>, key: 'atimeMs' | 'mtimeMs' | 'ctimeMs' | 'birthtimeMs'): Date {
  return new Date(Math.round(Number(stat[key])))
}

/** Node's Stats (or BigIntStats) for a statx result. */
function toStats(stat: Statx<number> | Statx<bigint>, bigint: boolean): nodeFs.Stats | nodeFs.BigIntStats {
  const shape = bigint ? bigintShape : numberShape
  const stats = Object.create(shape.prototype) as Record<string, unknown>
  const fields = stat as unknown as Record<string, unknown>
  for (const key of shape.keys) {
    const dateKey = dateKeys[key]
    stats[key] = dateKey === undefined ? fields[key] : dateOf(stat, dateKey)
  }
  return stats as unknown as nodeFs.Stats | nodeFs.BigIntStats
}

/**
 * Node's Stats of a path or an fd through the ring: `bigint` gives BigIntStats, `follow` follows a
 * symbolic link at the end of a path, and errors name `syscall` (stat, lstat, fstat).
 */
export async function statsOf(ring: Ring, target: PathArgument | number, bigint: boolean, follow: boolean, syscall: string): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
  const file = typeof target === 'number' ? target : target.bytes
  const options = { symlinks: follow, syscall }
  return bigint ? toStats(await ring.statx(file, { ...options, bigint: true }), true) : toStats(await ring.statx(file, options), false)
}

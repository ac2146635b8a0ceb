/**
 * `fs.Stats` and `BigIntStats` objects from a statx result, built so that they are what Node's
 * `stat` returns: the same prototype (so `instanceof fs.Stats` and `isFile()` work), the same own
 * fields in the same order. The field list is read off this Node's own stats once, so it follows
 * the Node version (Node 20 has own Date fields, later versions lazy getters).
 * @packageDocumentation
 */
import * as nodeFs from 'node:fs'
import type { Statx } from '../ring.js'

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

/** A Date as Node makes it from a stat time (rounded to the millisecond). */
function dateOf(stat: Statx<number> | Statx<bigint>, key: 'atimeMs' | 'mtimeMs' | 'ctimeMs' | 'birthtimeMs'): Date {
  const ms = stat[key]
  if (typeof ms === 'number') return new Date(Math.round(ms))
  const ns = stat[key.replace('Ms', 'Ns') as 'atimeNs'] ?? ms * 1_000_000n
  return new Date(Number(ns / 1_000_000n) + Math.round(Number(ns % 1_000_000n) / 1e6))
}

/** Node's Stats (or BigIntStats) for a statx result. */
export function toStats(stat: Statx<number> | Statx<bigint>, bigint: boolean): nodeFs.Stats | nodeFs.BigIntStats {
  const shape = bigint ? bigintShape : numberShape
  const stats = Object.create(shape.prototype) as Record<string, unknown>
  const fields = stat as unknown as Record<string, unknown>
  for (const key of shape.keys) {
    const dateKey = dateKeys[key]
    stats[key] = dateKey === undefined ? fields[key] : dateOf(stat, dateKey)
  }
  return stats as unknown as nodeFs.Stats | nodeFs.BigIntStats
}

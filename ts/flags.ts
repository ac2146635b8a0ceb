/**
 * `open(2)` flags from Node's flag strings ('r', 'w+', 'ax', ...), exactly as `fs.open` reads them.
 * @packageDocumentation
 */
import { constants } from 'node:fs'
import { invalidArgValue, outOfRange } from './errors.js'

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC } = constants

const byName: Record<string, number> = {
  r: O_RDONLY,
  rs: O_RDONLY | O_SYNC,
  sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR,
  'rs+': O_RDWR | O_SYNC,
  'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR,
  'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
}

/** The numeric flags for a flag string or number (undefined and null: `fallback`), checked as Node's `stringToFlags`. */
export function openFlags(flags: unknown, fallback = 'r'): number {
  if (typeof flags === 'number') {
    if (!Number.isInteger(flags)) throw outOfRange('flags', 'an integer', flags)
    if (flags < -(2 ** 31) || flags > 2 ** 31 - 1) throw outOfRange('flags', '>= -2147483648 && <= 2147483647', flags)
    return flags
  }
  if (flags == null) return byName[fallback]
  if (typeof flags === 'string' && Object.hasOwn(byName, flags)) return byName[flags]
  throw invalidArgValue('flags', flags)
}

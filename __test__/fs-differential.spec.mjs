// The differential proof of issue 5: the same random sequences of fs calls, valid and invalid, run
// against node:fs/promises and rio-uring/fs in two sibling temp dirs, step by step. Each step must
// end the same way on both sides (same resolved value, or an error of the same class, code, errno,
// syscall, path, dest and message, with each side's dir replaced by `<dir>`), and after each
// sequence the two trees must hold the same names, types, sizes, contents, modes and links.
//
// Sequences are seeded: a failure prints its seed and the calls that led to it. To replay or explore:
//   FS_DIFF_SEED=17 npx ava __test__/fs-differential.spec.mjs          one sequence
//   FS_DIFF_FIRST_SEED=1000 FS_DIFF_SEQUENCES=300 npx ava ...          more sequences
//   FS_DIFF_CALLS=80                                                   longer sequences
// Runs on the backend RIO_URING_BACKEND names. As root (CI containers) permission bits do not
// refuse anything, so EACCES is not among the errors met here.
import test from 'ava'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import nodeFsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { inspect, isDeepStrictEqual } from 'node:util'
import rioFs from 'rio-uring/fs'
import { pattern } from './support.mjs'

const FIRST_SEED = Number(process.env.FS_DIFF_FIRST_SEED ?? 1)
const SEQUENCES = Number(process.env.FS_DIFF_SEQUENCES ?? 30)
const CALLS = Number(process.env.FS_DIFF_CALLS ?? 40)
const SEEDS = process.env.FS_DIFF_SEED ? [Number(process.env.FS_DIFF_SEED)] : Array.from({ length: SEQUENCES }, (_, i) => FIRST_SEED + i)

const MiB = 1 << 20
const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, COPYFILE_EXCL, COPYFILE_FICLONE } = fs.constants

// ---- a seeded PRNG (mulberry32) -----------------------------------------------------------------

function randomSource(seed) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  return {
    int,
    chance: (p) => next() < p,
    pick: (list) => list[int(list.length)],
    /** One of `[weight, value]` pairs, by weight. */
    weighted(pairs) {
      let roll = next() * pairs.reduce((sum, [weight]) => sum + weight, 0)
      for (const [weight, value] of pairs) {
        roll -= weight
        if (roll < 0) return value
      }
      return pairs[pairs.length - 1][1]
    },
  }
}

// ---- arguments that become a different value on each side ---------------------------------------
// A generated call holds these tokens; `materialise` turns them into each side's own values (its
// dir's paths, fresh buffers, its handles), so neither side sees an object the other touched.

class PathArg {
  constructor(relative, form = 'string') {
    this.relative = relative
    this.form = form
  }
  materialise(side) {
    const full = path.join(side.dir, this.relative)
    if (this.form === 'buffer') return Buffer.from(full)
    if (this.form === 'url') return pathToFileURL(full)
    return full
  }
  [inspect.custom]() {
    const shown = `<dir>/${this.relative}`.replace(/\0/g, '\\0')
    return this.form === 'string' ? `'${shown}'` : `${this.form}('${shown}')`
  }
}

/** `size` bytes of pattern `seed`, as a Buffer or another view. */
class BytesArg {
  constructor(size, seed, kind = 'Buffer') {
    this.size = size
    this.seed = seed
    this.kind = kind
  }
  materialise() {
    const bytes = pattern(this.size, this.seed)
    if (this.kind === 'Uint8Array') return new Uint8Array(bytes)
    if (this.kind === 'DataView') return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (this.kind === 'Uint16Array') return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1)
    return bytes
  }
  [inspect.custom]() {
    return `<${this.kind} ${this.size} bytes #${this.seed}>`
  }
}

/** A zero-filled Buffer to read into. */
class EmptyBufferArg {
  constructor(size) {
    this.size = size
  }
  materialise() {
    return Buffer.alloc(this.size, 0xee)
  }
  [inspect.custom]() {
    return `<empty Buffer ${this.size}>`
  }
}

/** An iterable (array or async generator) of chunks. */
class ChunksArg {
  constructor(chunks, asynchronous) {
    this.chunks = chunks
    this.asynchronous = asynchronous
  }
  materialise(side) {
    const chunks = this.chunks.map((chunk) => materialise(chunk, side))
    if (!this.asynchronous) return chunks
    return (async function* () {
      for (const chunk of chunks) {
        await null
        yield chunk
      }
    })()
  }
  [inspect.custom](depth, options) {
    return `${this.asynchronous ? 'async' : 'sync'} chunks ${inspect(this.chunks, options)}`
  }
}

/** The side's `index`th FileHandle (open or already closed). */
class HandleArg {
  constructor(index) {
    this.index = index
  }
  materialise(side) {
    return side.handles[this.index]
  }
  [inspect.custom]() {
    return `<handle ${this.index}>`
  }
}

function materialise(value, side) {
  if (value instanceof PathArg || value instanceof BytesArg || value instanceof EmptyBufferArg || value instanceof ChunksArg || value instanceof HandleArg) {
    const made = value.materialise(side)
    // Buffers the call may fill or must leave alone: compared after the call.
    if (value instanceof BytesArg || value instanceof EmptyBufferArg) side.views.push(made)
    return made
  }
  if (Array.isArray(value)) return value.map((item) => materialise(item, side))
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, materialise(item, side)]))
  }
  return value
}

// ---- what the random calls are made of ----------------------------------------------------------

/** Paths the calls use: few, so that calls meet each other's files (existing targets, non-empty dirs). */
const PATHS = ['f0', 'f1', 'f2', 'd0', 'd1', 'd0/f0', 'd0/f3', 'd0/d2', 'd0/d2/f4', 'l0', 'l1', 'missing/f5', 'f0/x', 'f1/', 'd0/']
const DEEP_PATHS = ['d1/d3/d4', 'd0/d2/d5', 'f0/d6', 'missing/d7/d8', 'd0/f0/d9']
const NUL_PATHS = ['f\0x', 'd0/\0']
/** Values no path may be. */
const BAD_PATHS = [123, null, undefined, {}, true, [], new URL('http://example.com/f0')]

const STRING_FLAGS = ['r', 'r+', 'w', 'wx', 'w+', 'a', 'ax', 'a+', 'rs+', 'as', 'xa+', 'wx+']
const NUMERIC_FLAGS = [O_RDONLY, O_WRONLY | O_CREAT, O_RDWR | O_CREAT | O_EXCL, O_RDWR | O_TRUNC, O_WRONLY | O_APPEND | O_CREAT, O_RDONLY | O_DIRECTORY, O_RDWR | O_CREAT | O_NOFOLLOW, O_WRONLY]
const BAD_FLAGS = ['z', 'rw', '', 'R', true, {}]
const FILE_MODES = [undefined, 0o600, 0o644, 0o666, 0o755, 0o400, 0o4755, '640', '0755', null]
const DIR_MODES = [undefined, 0o755, 0o700, 0o777, 0o555, '750']
const BAD_MODES = ['0o644', 'rw', -1, 2 ** 33, 1.5, {}, true]
const ENCODINGS = ['utf8', 'utf-8', 'latin1', 'hex', 'base64', 'base64url', 'utf16le', 'ascii', 'binary', 'ucs2']
const BAD_ENCODINGS = ['nope', 'UTF-9', 'buffer']
const SMALL_SIZES = [0, 1, 3, 100, 4095, 4096, 4097, 65_536, 100_000]
const LARGE_SIZES = [MiB - 1, MiB, MiB + 1, 3 * MiB + 123, 6 * MiB + 7]
const TEXTS = ['', 'hello', 'héllo wörld ✓ 😀\n', 'line one\nline two\r\nline three', '0123456789abcdef', 'Zm9vYmFy']
const LENGTHS = [0, 1, 5, 4096, 100_000, 3 * MiB]
const BAD_LENGTHS = ['7', -3, 1.5, null, 2 ** 60, 7n]
const POSITIONS = [undefined, null, -1, 0, 3, 4096, 70_000, 2n, 1.5]

/** A random path argument, mostly a string; sometimes a Buffer or a file: URL. */
function pathArg(random, relative = random.pick(PATHS)) {
  const form = random.weighted([[8, 'string'], [1, 'buffer'], [1, 'url']])
  return new PathArg(relative, form)
}

/** A path argument that may be invalid: NUL bytes or not a path at all. */
function maybeBadPath(random, relative) {
  return random.weighted([
    [30, () => pathArg(random, relative)],
    [1, () => pathArg(random, random.pick(NUL_PATHS))],
    [1, () => random.pick(BAD_PATHS)],
  ])()
}

function dataSize(random) {
  return random.chance(0.12) ? random.pick(LARGE_SIZES) : random.pick(SMALL_SIZES)
}

/** A `data` argument for writeFile and friends: bytes, a string, an iterable of chunks, or junk. */
function dataArg(random) {
  return random.weighted([
    [10, () => new BytesArg(dataSize(random), random.int(1000))],
    [2, () => new BytesArg(random.pick(SMALL_SIZES), random.int(1000), random.pick(['Uint8Array', 'DataView', 'Uint16Array']))],
    [6, () => random.pick(TEXTS)],
    [2, () => new ChunksArg(Array.from({ length: random.int(4) }, () => random.chance(0.5) ? random.pick(TEXTS) : new BytesArg(dataSize(random), random.int(1000))), random.chance(0.5))],
    [1, () => new ChunksArg(['ok', random.pick([42, null, {}])], random.chance(0.5))],
    [1, () => random.pick([42, null, undefined, {}, true])],
  ])()
}

function flagArg(random, strings = STRING_FLAGS) {
  return random.weighted([
    [12, () => random.pick(strings)],
    [3, () => random.pick(NUMERIC_FLAGS)],
    [1, () => random.pick(BAD_FLAGS)],
  ])()
}

function modeArg(random, modes = FILE_MODES) {
  return random.chance(0.94) ? random.pick(modes) : random.pick(BAD_MODES)
}

function encodingArg(random) {
  return random.chance(0.94) ? random.pick(ENCODINGS) : random.pick(BAD_ENCODINGS)
}

function lengthArg(random) {
  return random.chance(0.9) ? random.pick(LENGTHS) : random.pick(BAD_LENGTHS)
}

/** readFile's options: nothing, an encoding, or an object with encoding and flag. */
function readOptions(random) {
  return random.weighted([
    [4, () => undefined],
    [2, () => encodingArg(random)],
    [3, () => ({ encoding: random.chance(0.5) ? encodingArg(random) : null, flag: flagArg(random, ['r', 'r+', 'a+', 'w+', 'rs+']) })],
    [1, () => ({ flag: flagArg(random) })],
    [1, () => random.pick([42, true])],
  ])()
}

/** writeFile's options: nothing, an encoding, or an object with encoding, flag, mode, flush. */
function writeOptions(random) {
  return random.weighted([
    [4, () => undefined],
    [2, () => encodingArg(random)],
    [4, () => {
      const options = {}
      if (random.chance(0.5)) options.encoding = encodingArg(random)
      if (random.chance(0.6)) options.flag = flagArg(random, ['w', 'a', 'wx', 'ax', 'w+', 'a+', 'r+', 'r'])
      if (random.chance(0.4)) options.mode = modeArg(random)
      if (random.chance(0.1)) options.flush = true
      return options
    }],
    [1, () => random.pick([42, true])],
  ])()
}

function statOptions(random) {
  return random.pick([undefined, undefined, { bigint: true }, { bigint: false }, {}])
}

// ---- the calls ----------------------------------------------------------------------------------
// A call: `{ on: 'fs' | HandleArg, method, args }`. A generator returns one, or null when it does
// not apply (no handle is open yet).

function handleArg(random, state) {
  // Mostly an open handle; sometimes one that is closed already.
  const usable = state.handles.flatMap((handle, index) => (handle.retired ? [] : [index]))
  const open = usable.filter((index) => !state.handles[index].closed)
  if (open.length > 0 && random.chance(0.93)) return new HandleArg(random.pick(open))
  return usable.length > 0 ? new HandleArg(random.pick(usable)) : null
}

function positionArg(random) {
  return random.pick(POSITIONS)
}

const handleCalls = {
  read(random) {
    const size = random.pick([0, 1, 10, 4096, 20_000])
    const buffer = new EmptyBufferArg(size)
    return random.weighted([
      [2, () => []],
      [4, () => [buffer, random.int(size + 1), undefined, positionArg(random)]],
      [4, () => {
        const offset = random.int(size + 1)
        return [buffer, offset, random.int(size - offset + 1), positionArg(random)]
      }],
      [2, () => [{ buffer, position: positionArg(random) }]],
      [2, () => [buffer, { offset: random.int(size + 1), position: positionArg(random) }]],
      [1, () => [buffer, random.pick([size + 1, -1, 1.5, '0'])]],
      [1, () => [buffer, 0, size + 1]],
      [1, () => [random.pick(['text', 42, {}]), 0, 1, 0]],
    ])()
  },
  write(random) {
    return random.weighted([
      [4, () => {
        const bytes = new BytesArg(random.pick(SMALL_SIZES), random.int(1000))
        return [bytes, undefined, undefined, positionArg(random)]
      }],
      [3, () => {
        const size = random.pick([1, 10, 4096, 100_000])
        const offset = random.int(size + 1)
        return [new BytesArg(size, random.int(1000)), offset, random.int(size - offset + 1), positionArg(random)]
      }],
      [3, () => [random.pick(TEXTS), positionArg(random), random.chance(0.3) ? encodingArg(random) : undefined]],
      [2, () => [new BytesArg(100, random.int(1000)), { offset: random.int(50), length: random.int(50), position: positionArg(random) }]],
      [1, () => [new BytesArg(10, 1), 11]],
      [1, () => [new BytesArg(10, 1), 5, 6]],
      [1, () => [random.pick([42, null, {}])]],
    ])()
  },
  readv(random) {
    const buffers = Array.from({ length: random.int(4) }, () => new EmptyBufferArg(random.pick([0, 1, 7, 4096])))
    return random.chance(0.95) ? [buffers, positionArg(random)] : [random.pick([null, 'x', [42]])]
  },
  writev(random) {
    const buffers = Array.from({ length: random.int(4) }, () => new BytesArg(random.pick([0, 1, 7, 4096, 70_000]), random.int(1000)))
    return random.chance(0.95) ? [buffers, positionArg(random)] : [random.pick([null, 'x', [42]])]
  },
  stat: (random) => [statOptions(random)],
  truncate: (random) => (random.chance(0.2) ? [] : [lengthArg(random)]),
  sync: () => [],
  datasync: () => [],
  readFile: (random) => (random.chance(0.5) ? [] : [readOptions(random)]),
  writeFile: (random) => [dataArg(random), random.chance(0.5) ? undefined : random.pick([encodingArg(random), { encoding: encodingArg(random) }])],
  appendFile: (random) => [dataArg(random), random.chance(0.5) ? undefined : encodingArg(random)],
  close: () => [],
}

const moduleCalls = [
  [10, (random) => ({ on: 'fs', method: 'open', args: [maybeBadPath(random), flagArg(random), modeArg(random)] })],
  [26, (random, state) => {
    const handle = handleArg(random, state)
    if (handle === null) return null
    const method = random.weighted([
      [5, 'read'], [5, 'write'], [2, 'readv'], [2, 'writev'], [2, 'stat'], [2, 'truncate'], [1, 'sync'], [1, 'datasync'],
      [2, 'readFile'], [2, 'writeFile'], [1, 'appendFile'], [3, 'close'],
    ])
    return { on: handle, method, args: handleCalls[method](random) }
  }],
  [6, (random, state) => {
    const file = (random.chance(0.15) && handleArg(random, state)) || maybeBadPath(random)
    return { on: 'fs', method: 'readFile', args: [file, readOptions(random)] }
  }],
  [8, (random, state) => {
    const file = (random.chance(0.15) && handleArg(random, state)) || maybeBadPath(random)
    return { on: 'fs', method: random.pick(['writeFile', 'writeFile', 'appendFile']), args: [file, dataArg(random), writeOptions(random)] }
  }],
  [5, (random, state) => {
    const target = (random.chance(0.05) && handleArg(random, state)) || maybeBadPath(random)
    return { on: 'fs', method: random.pick(['stat', 'lstat']), args: [target, statOptions(random)] }
  }],
  [3, (random) => ({ on: 'fs', method: 'unlink', args: [maybeBadPath(random)] })],
  [3, (random) => ({ on: 'fs', method: 'rename', args: [maybeBadPath(random), maybeBadPath(random)] })],
  [5, (random) => {
    const recursive = random.chance(0.5)
    const target = maybeBadPath(random, recursive && random.chance(0.6) ? random.pick(DEEP_PATHS) : undefined)
    const options = random.weighted([
      [2, () => undefined],
      [2, () => ({ recursive, mode: random.chance(0.8) ? random.pick(DIR_MODES) : random.pick(BAD_MODES) })],
      [2, () => ({ recursive })],
      [1, () => random.pick(DIR_MODES)],
    ])()
    return { on: 'fs', method: 'mkdir', args: [target, options] }
  }],
  [3, (random) => ({ on: 'fs', method: 'rmdir', args: [maybeBadPath(random)] })],
  [3, (random) => ({ on: 'fs', method: 'truncate', args: random.chance(0.2) ? [maybeBadPath(random)] : [maybeBadPath(random), lengthArg(random)] })],
  [4, (random) => {
    const mode = random.weighted([[4, undefined], [3, COPYFILE_EXCL], [1, COPYFILE_FICLONE], [1, 0], [1, random.pick([8, -1, 'x', 1.5])]])
    return { on: 'fs', method: 'copyFile', args: mode === undefined ? [maybeBadPath(random), maybeBadPath(random)] : [maybeBadPath(random), maybeBadPath(random), mode] }
  }],
  [3, (random) => ({ on: 'fs', method: 'link', args: [maybeBadPath(random), maybeBadPath(random)] })],
  [3, (random) => {
    // Relative targets resolve inside each side's dir; absolute ones name each side's own file.
    const target = random.weighted([[3, () => random.pick(['f0', 'd0', 'nowhere', './f1', 'd0/f3'])], [2, () => pathArg(random)], [1, () => random.pick(BAD_PATHS)]])()
    const args = [target, maybeBadPath(random)]
    if (random.chance(0.2)) args.push(random.pick(['file', 'dir', 'junction', null, 42]))
    return { on: 'fs', method: 'symlink', args }
  }],
]

function nextCall(random, state) {
  for (;;) {
    const call = random.weighted(moduleCalls)(random, state)
    if (call !== null) return call
  }
}

function describeCall(call) {
  const args = call.args.map((arg) => inspect(arg, { depth: 4, breakLength: Infinity }))
  const target = call.on === 'fs' ? 'fs' : inspect(call.on)
  return `${target}.${call.method}(${args.join(', ')})`
}

// ---- running a call on one side, and what of its outcome must match ------------------------------

/**
 * Runs `call` on `side`: its outcome normalised so that the two sides' outcomes can be compared
 * (the resolved value itself is left in `side.lastValue`).
 */
async function runOn(side, call) {
  side.views = []
  const args = materialise(call.args, side)
  const target = call.on === 'fs' ? side.fs : materialise(call.on, side)
  let promise
  try {
    promise = target[call.method](...args)
  } catch (error) {
    return { threw: 'synchronously', error: errorShape(error, side) }
  }
  if (!(promise instanceof Promise)) return { returned: 'not a promise', value: normalise(promise, side) }
  try {
    const value = await promise
    side.lastValue = value
    return { value: normalise(value, side), argumentsAfter: side.views.map((view) => bytesShape(view)) }
  } catch (error) {
    return { rejected: errorShape(error, side), argumentsAfter: side.views.map((view) => bytesShape(view)) }
  }
}

/** `text` with the side's dir (as text, or as inspect shows it in a Buffer's bytes) replaced by `<dir>`. */
function withoutDir(text, side) {
  const asBytes = [...Buffer.from(side.dir)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')
  return text.split(side.dir).join('<dir>').split(asBytes).join('<dir>')
}

function errorShape(error, side) {
  if (!(error instanceof Error)) return { notAnError: normalise(error, side) }
  const text = (value) => (typeof value === 'string' ? withoutDir(value, side) : Buffer.isBuffer(value) ? { buffer: withoutDir(value.toString(), side) } : value)
  return {
    class: error.constructor.name,
    name: error.name,
    code: error.code,
    errno: error.errno,
    syscall: error.syscall,
    path: text(error.path),
    dest: text(error.dest),
    message: withoutDir(error.message, side),
  }
}

function bytesShape(view) {
  const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength)
  const contents = bytes.length <= 64 ? bytes.toString('hex') : createHash('sha1').update(bytes).digest('hex')
  return { class: view.constructor.name, length: view.byteLength, contents }
}

/** Stats fields that do not depend on when or where a file was made. */
const COMPARABLE_STATS = new Set(['mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks'])
const STATS_PREDICATES = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isSocket', 'isBlockDevice', 'isCharacterDevice']

function isStats(value) {
  return value instanceof fs.Stats || (typeof value.isFile === 'function' && 'mtimeMs' in value && 'ino' in value)
}

function statsShape(stats) {
  const fields = {}
  for (const key of Object.keys(stats)) {
    const value = stats[key]
    // Times, inode and device differ between the two dirs: only their types must match.
    fields[key] = COMPARABLE_STATS.has(key) ? value : value instanceof Date ? 'a Date' : typeof value
  }
  return {
    prototype: Object.getPrototypeOf(stats).constructor.name,
    instanceOfStats: stats instanceof fs.Stats,
    fields,
    predicates: STATS_PREDICATES.map((name) => stats[name]()),
  }
}

function normalise(value, side) {
  if (typeof value === 'string') return value.length <= 256 ? withoutDir(value, side) : { string: value.length, sha1: createHash('sha1').update(value).digest('hex') }
  if (value === null || typeof value !== 'object') return value
  if (ArrayBuffer.isView(value)) {
    const argument = side.views.indexOf(value)
    return { ...bytesShape(value), ...(argument === -1 ? {} : { isArgument: argument }) }
  }
  if (Array.isArray(value)) return value.map((item) => normalise(item, side))
  if (isStats(value)) return statsShape(value)
  if (typeof value.fd === 'number' && typeof value.close === 'function') return { handle: value.constructor.name, fd: typeof value.fd }
  // Node makes some results with a null prototype; fs.spec.mjs checks those on their own.
  return { ...Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalise(item, side)])) }
}

// ---- the trees ----------------------------------------------------------------------------------

/** Every entry under `dir`, by path: type, mode, size, link count, and contents or link target. */
function treeOf(dir) {
  const entries = {}
  const walk = (relative) => {
    for (const name of fs.readdirSync(path.join(dir, relative)).sort()) {
      const entry = path.join(relative, name)
      const full = path.join(dir, entry)
      const stats = fs.lstatSync(full)
      if (stats.isSymbolicLink()) {
        entries[entry] = { type: 'symlink', target: fs.readlinkSync(full).split(dir).join('<dir>'), nlink: stats.nlink }
      } else if (stats.isDirectory()) {
        entries[entry] = { type: 'directory', mode: stats.mode & 0o7777, nlink: stats.nlink }
        walk(entry)
      } else {
        const contents = fs.readFileSync(full)
        entries[entry] = { type: 'file', mode: stats.mode & 0o7777, size: stats.size, nlink: stats.nlink, sha1: createHash('sha1').update(contents).digest('hex') }
      }
    }
  }
  walk('')
  return entries
}

// ---- the sequences ------------------------------------------------------------------------------

/** `value` flattened to `a.b[2].c: leaf` lines, for a short report of where two outcomes differ. */
function leaves(value, prefix = '', into = new Map()) {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((item, index) => [`[${index}]`, item]) : Object.entries(value).map(([key, item]) => [`${prefix ? '.' : ''}${key}`, item])
    if (entries.length === 0 && prefix !== '') into.set(prefix, Array.isArray(value) ? '[]' : '{}')
    for (const [key, item] of entries) leaves(item, prefix + key, into)
  } else {
    into.set(prefix, value)
  }
  return into
}

function differences(actual, expected) {
  const rio = leaves(actual)
  const node = leaves(expected)
  const show = (value) => inspect(value, { breakLength: Infinity })
  return [...new Set([...node.keys(), ...rio.keys()])]
    .filter((key) => !Object.is(rio.get(key), node.get(key)))
    .map((key) => `      ${key || '(outcome)'}:\n        rio-uring/fs      ${rio.has(key) ? show(rio.get(key)) : '(none)'}\n        node:fs/promises  ${node.has(key) ? show(node.get(key)) : '(none)'}`)
}

async function closeAll(side) {
  for (const handle of side.handles) await handle.close().catch(() => {})
}

// Bad path arguments must never reach the file system; if one does (a bug), relative names land
// in a scratch working dir, not in the repository.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-uring-fs-diff-cwd-'))
process.chdir(scratch)
test.after.always(() => fs.rmSync(scratch, { recursive: true, force: true }))

for (const seed of SEEDS) {
  test(`sequence ${seed}: ${CALLS} random calls end the same on node:fs/promises and rio-uring/fs`, async (t) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-uring-fs-diff-'))
    // Sibling dirs of the same length, so that messages that cut long values cut them alike.
    const node = { fs: nodeFsp, dir: path.join(root, 'a'), handles: [], views: [] }
    const rio = { fs: rioFs, dir: path.join(root, 'b'), handles: [], views: [] }
    fs.mkdirSync(node.dir)
    fs.mkdirSync(rio.dir)
    t.teardown(async () => {
      await closeAll(node)
      await closeAll(rio)
      fs.rmSync(root, { recursive: true, force: true })
    })
    const random = randomSource(seed)
    const state = { handles: [] }
    const history = []
    const mismatches = []
    for (let step = 0; step < CALLS; step++) {
      const call = nextCall(random, state)
      history.push(`${String(step).padStart(4)}  ${describeCall(call)}`)
      const expected = await runOn(node, call)
      const actual = await runOn(rio, call)
      if (call.method === 'open') {
        if ('value' in expected && 'value' in actual) {
          node.handles.push(node.lastValue)
          rio.handles.push(rio.lastValue)
          state.handles.push({ closed: false, retired: false })
        } else if ('value' in actual) {
          await rio.lastValue.close()
        } else if ('value' in expected) {
          await node.lastValue.close()
        }
      }
      if (call.method === 'close') state.handles[call.on.index].closed = true
      const lines = differences(actual, expected)
      if (lines.length > 0) {
        mismatches.push(`  step ${step}: ${describeCall(call)}\n${lines.join('\n')}`)
        // A handle that saw a disagreement may now sit at different positions: leave it be.
        if (call.on instanceof HandleArg) state.handles[call.on.index].retired = true
      }
      // Go on while the two sides agree on the tree, so one sequence shows several disagreements.
      const treeLines = differences(treeOf(rio.dir), treeOf(node.dir))
      if (treeLines.length > 0) {
        mismatches.push(`  the trees differ after step ${step} (the sequence stops here):\n${treeLines.join('\n')}`)
        break
      }
    }
    // Closing every handle ends alike too, and then the trees must be the same.
    for (const [index, handle] of state.handles.entries()) {
      if (handle.closed) continue
      const call = { on: new HandleArg(index), method: 'close', args: [] }
      const lines = differences(await runOn(rio, call), await runOn(node, call))
      if (lines.length > 0) mismatches.push(`  closing handle ${index} at the end:\n${lines.join('\n')}`)
    }
    const report = `seed ${seed} (replay: FS_DIFF_SEED=${seed})\ncalls:\n${history.join('\n')}`
    if (mismatches.length > 0) t.fail(`seed ${seed}: ${mismatches.length} call(s) ended differently:\n${mismatches.join('\n')}\n${report}`)
    t.deepEqual(treeOf(rio.dir), treeOf(node.dir), `the trees differ after the sequence; ${report}`)
  })
}

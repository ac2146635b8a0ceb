// Bad arguments: every method returns a promise rejected with Node's TypeError / RangeError and
// ERR_* code (never a synchronous throw), and nothing reaches the ring. A closed ring rejects
// every op with ERR_INVALID_STATE; `new Ring()` with bad options throws. Runs on the backend
// RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import { Ring } from 'rio-uring'
import { openRing, rejects } from './support.mjs'

const TYPE = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }
const VALUE = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }
const RANGE = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }
// What node:fs throws for a URL that is not a file: URL.
const URL_SCHEME = { instanceOf: TypeError, code: 'ERR_INVALID_URL_SCHEME' }

const fd = 0 // Never used: every call below fails its checks before it could be submitted.
const buffer = Buffer.alloc(8)

/** [what, call, expected rejection] */
const badCalls = [
  ['readAt: fd as a string', (ring) => ring.readAt('3', buffer, 0), TYPE],
  ['readAt: negative fd', (ring) => ring.readAt(-1, buffer, 0), RANGE],
  ['readAt: non-integer fd', (ring) => ring.readAt(1.5, buffer, 0), RANGE],
  ['readAt: fd above 2^31-1', (ring) => ring.readAt(2 ** 31, buffer, 0), RANGE],
  ['readAt: buffer as a string', (ring) => ring.readAt(fd, 'abc', 0), TYPE],
  ['readAt: buffer as an array', (ring) => ring.readAt(fd, [1, 2, 3], 0), TYPE],
  ['readAt: a bare ArrayBuffer', (ring) => ring.readAt(fd, new ArrayBuffer(8), 0), TYPE],
  ['readAt: no buffer', (ring) => ring.readAt(fd), TYPE],
  ['readAt: non-integer position', (ring) => ring.readAt(fd, buffer, 1.5), RANGE],
  ['readAt: position -2', (ring) => ring.readAt(fd, buffer, -2), RANGE],
  ['readAt: position -2n', (ring) => ring.readAt(fd, buffer, -2n), RANGE],
  ['readAt: NaN position', (ring) => ring.readAt(fd, buffer, NaN), RANGE],
  ['readAt: position past 2^53-1', (ring) => ring.readAt(fd, buffer, 2 ** 53), RANGE],
  ['readAt: position as a string', (ring) => ring.readAt(fd, buffer, '0'), TYPE],
  ['writeAt: fd as a string', (ring) => ring.writeAt('3', buffer, 0), TYPE],
  ['writeAt: buffer as a string', (ring) => ring.writeAt(fd, 'abc', 0), TYPE],
  ['writeAt: null buffer', (ring) => ring.writeAt(fd, null, 0), TYPE],
  ['writeAt: negative position', (ring) => ring.writeAt(fd, buffer, -5), RANGE],
  ['writeAt: non-integer position', (ring) => ring.writeAt(fd, buffer, 0.5), RANGE],
  ['readvAt: buffers not an array', (ring) => ring.readvAt(fd, buffer, 0), TYPE],
  ['readvAt: a string among the buffers', (ring) => ring.readvAt(fd, [buffer, 'x'], 0), TYPE],
  ['readvAt: negative position', (ring) => ring.readvAt(fd, [buffer], -3), RANGE],
  ['writevAt: buffers not an array', (ring) => ring.writevAt(fd, 'abc', 0), TYPE],
  ['writevAt: null among the buffers', (ring) => ring.writevAt(fd, [null], 0), TYPE],
  ['writevAt: fd as a string', (ring) => ring.writevAt('1', [buffer], 0), TYPE],
  ['fsync: fd as a string', (ring) => ring.fsync('1'), TYPE],
  ['fsync: negative fd', (ring) => ring.fsync(-1), RANGE],
  ['fdatasync: fd as a string', (ring) => ring.fdatasync('1'), TYPE],
  ['syncFileRange: negative offset', (ring) => ring.syncFileRange(fd, -1, 0), RANGE],
  ['syncFileRange: non-integer length', (ring) => ring.syncFileRange(fd, 0, 1.5), RANGE],
  ['syncFileRange: negative flags', (ring) => ring.syncFileRange(fd, 0, 0, -1), RANGE],
  ['fallocate: negative length', (ring) => ring.fallocate(fd, 0, -1), RANGE],
  ['fallocate: offset as a string', (ring) => ring.fallocate(fd, '0', 1), TYPE],
  ['fallocate: non-integer mode', (ring) => ring.fallocate(fd, 0, 1, 1.5), RANGE],
  ['open: path as a number', (ring) => ring.open(123), TYPE],
  ['open: path with a NUL byte', (ring) => ring.open('/tmp/a\0b'), VALUE],
  ['open: Buffer path with a NUL byte', (ring) => ring.open(Buffer.from('/tmp/a\0b')), VALUE],
  ['open: a URL that is not file:', (ring) => ring.open(new URL('http://example.com/x')), URL_SCHEME],
  ['open: unknown flag string', (ring) => ring.open('/tmp/x', 'bogus'), VALUE],
  ['open: negative mode', (ring) => ring.open('/tmp/x', 'r', -1), RANGE],
  ['open: mode as an object', (ring) => ring.open('/tmp/x', 'r', {}), TYPE],
  ['close: fd as a string', (ring) => ring.close('3'), TYPE],
  ['close: negative fd', (ring) => ring.close(-1), RANGE],
  // An fd variable never set must not close the whole ring (only close() with no argument does).
  ['close: fd undefined', (ring) => ring.close(undefined), TYPE],
  ['statx: path as an object', (ring) => ring.statx({}), TYPE],
  ['statx: path with a NUL byte', (ring) => ring.statx('a\0b'), VALUE],
  ['statx: negative fd', (ring) => ring.statx(-1), RANGE],
  ['unlink: null path', (ring) => ring.unlink(null), TYPE],
  ['unlink: path with a NUL byte', (ring) => ring.unlink('a\0'), VALUE],
  ['rmdir: no path', (ring) => ring.rmdir(), TYPE],
  ['rename: destination as a number', (ring) => ring.rename('/tmp/a', 5), TYPE],
  ['rename: source with a NUL byte', (ring) => ring.rename('\0', '/tmp/b'), VALUE],
  ['mkdir: path with a NUL byte', (ring) => ring.mkdir('/tmp/x\0y'), VALUE],
  ['mkdir: mode as a string', (ring) => ring.mkdir('/tmp/x', 'rwx'), TYPE],
  ['accept: fd as a string', (ring) => ring.accept('3'), TYPE],
  ['connect: port past 65535', (ring) => ring.connect(fd, 70000), RANGE],
  ['connect: non-integer port', (ring) => ring.connect(fd, 80.5), RANGE],
  ['connect: a host name instead of an address', (ring) => ring.connect(fd, 80, 'localhost'), VALUE],
  ['send: data as a string', (ring) => ring.send(fd, 'hello'), TYPE],
  ['send: negative flags', (ring) => ring.send(fd, buffer, { flags: -1 }), RANGE],
  ['recv: null buffer', (ring) => ring.recv(fd, null), TYPE],
  ['recv: flags as a string', (ring) => ring.recv(fd, buffer, { flags: 'peek' }), TYPE],
  ['shutdown: unknown direction', (ring) => ring.shutdown(fd, 'sideways'), VALUE],
  ['timeout: ms as a string', (ring) => ring.timeout('10'), TYPE],
  ['timeout: negative ms', (ring) => ring.timeout(-1), RANGE],
  ['timeout: infinite ms', (ring) => ring.timeout(Infinity), RANGE],
  ['timeout: NaN ms', (ring) => ring.timeout(NaN), RANGE],
  ['options: not an object', (ring) => ring.nop('fast'), TYPE],
  ['options: null', (ring) => ring.nop(null), TYPE],
  ['options: unknown ordering', (ring) => ring.nop({ ordering: 9 }), VALUE],
  ['options: ordering as a string', (ring) => ring.nop({ ordering: 'link' }), VALUE],
  ['options: ordering on a read', (ring) => ring.readAt(fd, buffer, 0, { ordering: -1 }), VALUE],
  ['options: signal that is not an AbortSignal', (ring) => ring.nop({ signal: {} }), TYPE],
  ['options: signal as a string', (ring) => ring.readAt(fd, buffer, 0, { signal: 'abort' }), TYPE],
]

for (const [what, call, expected] of badCalls) {
  test(`${what} rejects with ${expected.instanceOf.name} ${expected.code} before anything is submitted`, async (t) => {
    const ring = openRing(t)
    const error = await rejects(t, () => call(ring), expected)
    t.regex(error.message, /\S/)
    const stats = ring.stats()
    t.is(stats.submitted, 0)
    t.is(stats.inFlight, 0)
  })
}

/** The error node:fs throws synchronously for `call`. */
function nodeThrow(t, call) {
  try {
    call()
  } catch (error) {
    return error
  }
  return t.fail('node:fs accepted the call')
}

function assertWordedLikeNode(t, error, expected) {
  t.is(error.code, expected.code)
  t.is(error.name, expected.name)
  t.is(error.message, expected.message)
}

test('a wrong fd or buffer type is worded as node:fs words it', async (t) => {
  const ring = openRing(t)
  assertWordedLikeNode(t, await ring.readAt('3', buffer, 0).catch((error) => error), nodeThrow(t, () => fs.read('3', buffer, 0, 1, 0, () => {})))
  assertWordedLikeNode(t, await ring.readAt(3, 'str', 0).catch((error) => error), nodeThrow(t, () => fs.read(3, 'str', 0, 1, 0, () => {})))
})

test('a path with a NUL byte is worded as fs/promises words it (the NUL shown escaped)', async (t) => {
  const ring = openRing(t)
  const expected = await fsp.open('/tmp/a\0b').catch((error) => error)
  assertWordedLikeNode(t, await ring.open('/tmp/a\0b').catch((error) => error), expected)
})

test('an argument error has a stack that starts at its name and code, as Node prints them', async (t) => {
  const ring = openRing(t)
  const error = await ring.readAt('3', buffer, 0).catch((rejection) => rejection)
  t.true(error.stack.startsWith('TypeError [ERR_INVALID_ARG_TYPE]: The "fd" argument must be of type number'), error.stack.split('\n')[0])
  t.is(error.name, 'TypeError')
})

// ---- a closed ring ------------------------------------------------------------------------------

const everyOp = [
  ['nop', (ring) => ring.nop()],
  ['readAt', (ring) => ring.readAt(fd, buffer, 0)],
  ['writeAt', (ring) => ring.writeAt(fd, buffer, 0)],
  ['readvAt', (ring) => ring.readvAt(fd, [buffer], 0)],
  ['writevAt', (ring) => ring.writevAt(fd, [buffer], 0)],
  ['fsync', (ring) => ring.fsync(fd)],
  ['fdatasync', (ring) => ring.fdatasync(fd)],
  ['syncFileRange', (ring) => ring.syncFileRange(fd, 0, 0)],
  ['fallocate', (ring) => ring.fallocate(fd, 0, 1)],
  ['open', (ring) => ring.open('/tmp/x')],
  ['close(fd)', (ring) => ring.close(fd)],
  ['statx', (ring) => ring.statx('/tmp')],
  ['unlink', (ring) => ring.unlink('/tmp/x')],
  ['rmdir', (ring) => ring.rmdir('/tmp/x')],
  ['rename', (ring) => ring.rename('/tmp/x', '/tmp/y')],
  ['mkdir', (ring) => ring.mkdir('/tmp/x')],
  ['accept', (ring) => ring.accept(fd)],
  ['connect', (ring) => ring.connect(fd, 80)],
  ['send', (ring) => ring.send(fd, buffer)],
  ['recv', (ring) => ring.recv(fd, buffer)],
  ['shutdown', (ring) => ring.shutdown(fd)],
  ['timeout', (ring) => ring.timeout(1)],
]

test('every op on a closed ring rejects with ERR_INVALID_STATE, and close() again resolves', async (t) => {
  const ring = new Ring()
  t.false(ring.closed)
  t.is(await ring.close(), undefined)
  t.true(ring.closed)
  for (const [name, call] of everyOp) {
    const error = await rejects(t, () => call(ring), { code: 'ERR_INVALID_STATE' })
    t.true(error instanceof Error, name)
    t.regex(error.message, /closed/, name)
  }
  t.is(await ring.close(), undefined)
  t.is(ring.stats().inFlight, 0)
})

test('close() called twice at once returns promises that both resolve', async (t) => {
  const ring = new Ring()
  const pending = ring.timeout(60_000).catch((error) => error)
  const [first, second] = [ring.close(), ring.close()]
  await Promise.all([first, second])
  t.true(ring.closed)
  t.is((await pending).code, 'ECANCELED')
})

// ---- new Ring() ---------------------------------------------------------------------------------

for (const [what, options, expected] of [
  ['entries: 0', { entries: 0 }, RANGE],
  ['entries: -1', { entries: -1 }, RANGE],
  ['entries: 1.5', { entries: 1.5 }, RANGE],
  ['entries: 32769', { entries: 32769 }, RANGE],
  ["entries: '8'", { entries: '8' }, TYPE],
  ["backend: 'bogus'", { backend: 'bogus' }, VALUE],
  ["backend: 'IO_URING'", { backend: 'IO_URING' }, VALUE],
  ['options: null', null, TYPE],
  ["options: 'threads'", 'threads', TYPE],
]) {
  test(`new Ring(${what}) throws ${expected.instanceOf.name} ${expected.code}`, (t) => {
    t.throws(() => new Ring(options), expected)
  })
}

test('new Ring() takes each backend by name', async (t) => {
  const threads = openRing(t, { backend: 'threads' })
  t.is(threads.backend, 'threads')
  await threads.nop()
  const auto = openRing(t, { backend: 'auto' })
  t.true(auto.backend === 'io_uring' || auto.backend === 'threads')
  await auto.nop()
  let uring
  try {
    uring = openRing(t, { backend: 'io_uring' })
  } catch (error) {
    // Where the kernel refuses io_uring, forcing it must say so (and auto must have fallen back).
    t.is(auto.backend, 'threads')
    t.regex(error.message, /io_uring/)
    return
  }
  t.is(uring.backend, 'io_uring')
  await uring.nop()
})

// rio-uring/fs as a drop-in for node:fs/promises, one behaviour at a time: Stats objects, whole-file
// reads and writes (large, short, growing, shrinking, appending, iterables, FileHandle positions),
// FileHandle streams, closing and disposal, AbortSignal, and the module's exports. Wherever Node
// has an answer, the test asks node:fs/promises the same question and expects the same answer.
// The random differential test is fs-differential.spec.mjs. Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import nodeFs from 'node:fs/promises'
import path from 'node:path'
import * as rioNamespace from 'rio-uring/fs'
import rioFs from 'rio-uring/fs'
import { open, readFile, stat, writeFile } from 'rio-uring/fs'
import { defaultRing } from 'rio-uring'
import { inParallel } from '../dist/fs/io.js'
import { pattern, rejectionOf, tempDir } from './support.mjs'

const MiB = 1 << 20

/** 64 MiB of pattern, made once: several tests read and write it. */
let bigData
function big() {
  bigData ??= pattern(64 * MiB, 64)
  return bigData
}

/** A file in a fresh temp dir holding `contents`. */
function fileWith(t, contents, name = 'data') {
  const file = path.join(tempDir(t), name)
  fs.writeFileSync(file, contents)
  return file
}

/** A FileHandle from each module on the same file; both closed when the test ends. */
async function bothOpen(t, file, flags = 'r') {
  const node = await nodeFs.open(file, flags)
  const rio = await rioFs.open(file, flags)
  t.teardown(() => Promise.all([node.close(), rio.close()]))
  return { node, rio }
}

/** What of an error must be the same as Node's for the same failure. */
function failureOf(error) {
  return {
    class: error?.constructor?.name,
    name: error?.name,
    code: error?.code,
    errno: error?.errno,
    syscall: error?.syscall,
    path: error?.path,
    dest: error?.dest,
    message: error?.message,
    cause: error?.cause?.name,
  }
}

/** Both promises reject, and with errors Node's shape: class, code, errno, syscall, path, message. */
async function assertSameFailure(t, rioPromise, nodePromise, message) {
  const [rio, node] = await Promise.all([rejectionOf(t, rioPromise), rejectionOf(t, nodePromise)])
  t.deepEqual(failureOf(rio), failureOf(node), message)
}

/** All of a byte stream (Node Readable, web ReadableStream or async iterable) as one Buffer. */
async function collect(stream) {
  const chunks = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk))
  return Buffer.concat(chunks)
}

// ---- Stats --------------------------------------------------------------------------------------

test('stat gives an fs.Stats with isFile(), isDirectory() and Date times, equal to Node\'s stat of the same file', async (t) => {
  const dir = tempDir(t)
  const file = fileWith(t, pattern(12_345))
  // A time with sub-millisecond digits: the Dates must round as Node's do.
  fs.utimesSync(file, 1_700_000_000.123_456_7, 1_600_000_000.987_654_3)
  const stats = await stat(file)
  t.true(stats instanceof fs.Stats)
  t.true(stats.isFile())
  t.false(stats.isDirectory())
  t.false(stats.isSymbolicLink())
  t.true(stats.mtime instanceof Date)
  t.is(stats.size, 12_345)
  t.deepEqual(stats, await nodeFs.stat(file))
  t.deepEqual(Object.keys(stats), Object.keys(await nodeFs.stat(file)))

  const directory = await stat(dir)
  t.true(directory instanceof fs.Stats)
  t.true(directory.isDirectory())
  t.false(directory.isFile())
})

test('lstat of a symbolic link gives isSymbolicLink(), stat follows it; both equal to Node\'s', async (t) => {
  const file = fileWith(t, 'target')
  const link = path.join(path.dirname(file), 'link')
  fs.symlinkSync(file, link)
  const own = await rioFs.lstat(link)
  t.true(own instanceof fs.Stats)
  t.true(own.isSymbolicLink())
  t.false(own.isFile())
  t.deepEqual(own, await nodeFs.lstat(link))
  const followed = await rioFs.stat(link)
  t.true(followed.isFile())
  t.deepEqual(followed, await nodeFs.stat(link))
})

test('stat with bigint: true gives bigint fields and *Ns times, equal to Node\'s', async (t) => {
  const file = fileWith(t, pattern(777))
  fs.utimesSync(file, 1_700_000_000.123_456_7, 1_600_000_000.987_654_3)
  const stats = await stat(file, { bigint: true })
  const expected = await nodeFs.stat(file, { bigint: true })
  t.is(Object.getPrototypeOf(stats), Object.getPrototypeOf(expected))
  for (const field of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'blocks', 'mtimeMs', 'atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs']) {
    t.is(typeof stats[field], 'bigint', field)
  }
  t.is(stats.size, 777n)
  t.true(stats.isFile())
  t.true(stats.mtime instanceof Date)
  t.deepEqual(stats, expected)
})

test('FileHandle.stat gives the Stats Node\'s FileHandle.stat gives, bigint too', async (t) => {
  const file = fileWith(t, pattern(4097))
  const { node, rio } = await bothOpen(t, file)
  const stats = await rio.stat()
  t.true(stats instanceof fs.Stats)
  t.deepEqual(stats, await node.stat())
  t.deepEqual(await rio.stat({ bigint: true }), await node.stat({ bigint: true }))
})

// ---- readFile -----------------------------------------------------------------------------------

test.serial('readFile of a 64 MiB file gives its bytes, also with flag a+ and as a string', async (t) => {
  const file = fileWith(t, big())
  t.true((await readFile(file)).equals(big()))
  t.true((await readFile(file, { flag: 'a+' })).equals(big()))
  const text = await readFile(file, 'latin1')
  t.is(text.length, big().length)
  t.is(text, big().toString('latin1'))
})

test('readFile of short files and of a file with no size (/proc) gives what Node gives', async (t) => {
  for (const size of [0, 1, 4095, 4096, MiB - 1, MiB + 1]) {
    const file = fileWith(t, pattern(size, size))
    const data = await readFile(file)
    t.true(Buffer.isBuffer(data))
    t.true(data.equals(pattern(size, size)), `${size} bytes`)
  }
  t.deepEqual(await readFile('/proc/self/mountinfo', 'utf8'), await nodeFs.readFile('/proc/self/mountinfo', 'utf8'))
})

test.serial('readFile of a file that shrinks while it is read returns a prefix of the data', async (t) => {
  // Cut the file at several moments: before the read sizes it, and while its chunks are in flight.
  for (const delayMs of [0, 1, 2, 4, 8, 16]) {
    const file = fileWith(t, big(), `shrinking-${delayMs}`)
    const reading = readFile(file)
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    fs.truncateSync(file, 20 * MiB + 123)
    const data = await reading
    t.true(data.length <= big().length)
    t.true(data.length >= 20 * MiB + 123)
    t.true(data.equals(big().subarray(0, data.length)), `cut after ${delayMs} ms: not a prefix of the data`)
  }
})

test.serial('readFile of a file that grows while it is read returns a prefix of the data', async (t) => {
  const start = big().subarray(0, 32 * MiB)
  const file = fileWith(t, start)
  const reading = readFile(file)
  await new Promise((resolve) => setImmediate(resolve))
  fs.appendFileSync(file, big().subarray(32 * MiB))
  const data = await reading
  t.true(data.length >= start.length)
  t.true(data.equals(big().subarray(0, data.length)), 'not a prefix of the data')
})

test('readFile on a FileHandle reads from the current position, as Node', async (t) => {
  const file = fileWith(t, pattern(100_000))
  const { node, rio } = await bothOpen(t, file)
  await node.read(Buffer.alloc(1000), 0, 1000, null)
  await rio.read(Buffer.alloc(1000), 0, 1000, null)
  const rest = await rio.readFile()
  t.true(rest.equals(await node.readFile()))
  t.is(rest.length, 99_000)
  t.true((await rioFs.readFile(rio)).equals(await nodeFs.readFile(node)), 'at the end: nothing left')
})

// ---- writeFile and appendFile -------------------------------------------------------------------

test.serial('writeFile of a 64 MiB buffer round-trips; flag a appends', async (t) => {
  const file = path.join(tempDir(t), 'big')
  await writeFile(file, big())
  t.true(fs.readFileSync(file).equals(big()))
  const tail = pattern(3 * MiB + 5, 9)
  await writeFile(file, tail, { flag: 'a' })
  t.true(fs.readFileSync(file).equals(Buffer.concat([big(), tail])))
  await rioFs.appendFile(file, 'end')
  t.true(fs.readFileSync(file).subarray(-3).equals(Buffer.from('end')))
})

test('readFile, writeFile and appendFile take a FileHandle of node:fs/promises too, as Node\'s do', async (t) => {
  const file = fileWith(t, 'node handle contents')
  const handle = await nodeFs.open(file, 'r+')
  t.teardown(() => handle.close())
  t.is(await readFile(handle, 'utf8'), 'node handle contents')
  await writeFile(handle, ' and more')
  await rioFs.appendFile(handle, '!')
  t.is(fs.readFileSync(file, 'utf8'), 'node handle contents and more!')
})

test('writeFile replaces a longer file: nothing of the old contents is left', async (t) => {
  const file = fileWith(t, pattern(5 * MiB, 1))
  await writeFile(file, pattern(2 * MiB + 1, 2))
  t.true(fs.readFileSync(file).equals(pattern(2 * MiB + 1, 2)))
})

test('writeFile with an async iterable writes its chunks in order, as Node', async (t) => {
  const dir = tempDir(t)
  const chunks = () => (async function* () {
    yield 'héllo '
    yield pattern(2 * MiB + 3, 4)
    yield new Uint8Array([1, 2, 3])
    yield 'wörld'
  })()
  await writeFile(path.join(dir, 'rio'), chunks(), 'latin1')
  await nodeFs.writeFile(path.join(dir, 'node'), chunks(), 'latin1')
  t.true(fs.readFileSync(path.join(dir, 'rio')).equals(fs.readFileSync(path.join(dir, 'node'))))
})

test('writeFile on a FileHandle writes at the current position without truncating, as Node', async (t) => {
  const dir = tempDir(t)
  const original = pattern(50_000, 3)
  fs.writeFileSync(path.join(dir, 'node'), original)
  fs.writeFileSync(path.join(dir, 'rio'), original)
  const node = await nodeFs.open(path.join(dir, 'node'), 'r+')
  const rio = await rioFs.open(path.join(dir, 'rio'), 'r+')
  t.teardown(() => Promise.all([node.close(), rio.close()]))
  for (const handle of [node, rio]) await handle.read(Buffer.alloc(10_000), 0, 10_000, null)
  await node.writeFile('in the middle')
  await rio.writeFile('in the middle')
  await nodeFs.writeFile(node, pattern(1000, 5))
  await rioFs.writeFile(rio, pattern(1000, 5))
  await node.appendFile('after')
  await rio.appendFile('after')
  t.true(fs.readFileSync(path.join(dir, 'rio')).equals(fs.readFileSync(path.join(dir, 'node'))))
})

// ---- FileHandle streams -------------------------------------------------------------------------

test('FileHandle.createReadStream gives the bytes Node\'s gives, whole and with start, end and highWaterMark', async (t) => {
  const file = fileWith(t, pattern(3 * MiB + 17, 6))
  for (const options of [undefined, { start: 1000, end: 2 * MiB }, { highWaterMark: 1000, start: 5 }, { encoding: 'hex', end: 99 }]) {
    const { node, rio } = await bothOpen(t, file)
    const expected = await collect(node.createReadStream(options))
    t.true((await collect(rio.createReadStream(options))).equals(expected), JSON.stringify(options))
  }
})

test('FileHandle.createWriteStream writes what Node\'s writes', async (t) => {
  const dir = tempDir(t)
  const write = async (module, name) => {
    const handle = await module.open(path.join(dir, name), 'w')
    const stream = handle.createWriteStream()
    const closed = new Promise((resolve, reject) => {
      stream.on('close', resolve)
      stream.on('error', reject)
    })
    stream.write('first line\n')
    stream.write(pattern(MiB + 1, 7))
    stream.end(Buffer.from('the end'))
    await closed
  }
  await write(nodeFs, 'node')
  await write(rioFs, 'rio')
  t.true(fs.readFileSync(path.join(dir, 'rio')).equals(fs.readFileSync(path.join(dir, 'node'))))
})

test('FileHandle.readLines gives the lines Node\'s gives', async (t) => {
  const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'é✓'.repeat(i % 7)}`)
  const file = fileWith(t, lines.join('\n') + '\r\nlast line without newline')
  const { node, rio } = await bothOpen(t, file)
  const read = async (handle) => {
    const seen = []
    for await (const line of handle.readLines()) seen.push(line)
    return seen
  }
  const expected = await read(node)
  t.deepEqual(await read(rio), expected)
  t.is(expected.length, 20_001)
})

test('FileHandle.readableWebStream gives the bytes Node\'s gives', async (t) => {
  const file = fileWith(t, pattern(MiB + 3, 8))
  const { node, rio } = await bothOpen(t, file)
  t.true((await collect(rio.readableWebStream())).equals(await collect(node.readableWebStream())))
})

test('FileHandle.readableWebStream gives chunks of the type Node\'s gives', async (t) => {
  const file = fileWith(t, pattern(100_000, 8))
  const { node, rio } = await bothOpen(t, file)
  const kinds = async (handle) => {
    const seen = new Set()
    for await (const chunk of handle.readableWebStream()) seen.add(Object.prototype.toString.call(chunk))
    return [...seen]
  }
  t.deepEqual(await kinds(rio), await kinds(node))
})

test('FileHandle.readableWebStream leaves the handle open at the end of the file, as Node\'s does', async (t) => {
  const file = fileWith(t, pattern(100_000, 8))
  const { node, rio } = await bothOpen(t, file)
  await collect(node.readableWebStream())
  await collect(rio.readableWebStream())
  t.not(node.fd, -1)
  t.not(rio.fd, -1)
})

// ---- closing ------------------------------------------------------------------------------------

test('Symbol.asyncDispose closes the handle', async (t) => {
  const file = fileWith(t, 'abc')
  const handle = await open(file)
  t.is(typeof handle[Symbol.asyncDispose], 'function')
  let closed = false
  handle.on('close', () => (closed = true))
  await handle[Symbol.asyncDispose]()
  t.is(handle.fd, -1)
  t.true(closed)
  await handle.close() // closing again is fine, as in Node
})

test('every op on a closed FileHandle rejects as on Node\'s (file closed, EBADF)', async (t) => {
  const file = fileWith(t, pattern(100))
  const { node, rio } = await bothOpen(t, file, 'r+')
  await node.close()
  await rio.close()
  t.is(rio.fd, -1)
  const calls = {
    read: (h) => h.read(Buffer.alloc(10), 0, 10, 0),
    readv: (h) => h.readv([Buffer.alloc(10)], 0),
    write: (h) => h.write(Buffer.from('x'), 0, 1, 0),
    writeString: (h) => h.write('x', 0),
    writev: (h) => h.writev([Buffer.from('x')], 0),
    stat: (h) => h.stat(),
    truncate: (h) => h.truncate(1),
    sync: (h) => h.sync(),
    datasync: (h) => h.datasync(),
    readFile: (h) => h.readFile(),
    writeFile: (h) => h.writeFile('x'),
    appendFile: (h) => h.appendFile('x'),
    chmod: (h) => h.chmod(0o600),
    chown: (h) => h.chown(0, 0),
    utimes: (h) => h.utimes(1, 1),
    'fs.readFile': (h, module) => module.readFile(h),
    'fs.writeFile': (h, module) => module.writeFile(h, 'x'),
  }
  // Every call's failure at once, so that one report shows each op that differs.
  const failures = async (handle, module) => {
    const seen = {}
    for (const [name, call] of Object.entries(calls)) seen[name] = failureOf(await rejectionOf(t, call(handle, module)))
    return seen
  }
  t.deepEqual(await failures(rio, rioFs), await failures(node, nodeFs))
})

// ---- AbortSignal --------------------------------------------------------------------------------

test('readFile and writeFile with an aborted signal reject with an AbortError, as Node, and write nothing', async (t) => {
  const dir = tempDir(t)
  const file = fileWith(t, 'abc')
  const controller = new AbortController()
  controller.abort()
  const { signal } = controller
  await assertSameFailure(t, readFile(file, { signal }), nodeFs.readFile(file, { signal }), 'readFile')
  await assertSameFailure(t, writeFile(path.join(dir, 'rio'), 'x', { signal }), nodeFs.writeFile(path.join(dir, 'node'), 'x', { signal }), 'writeFile')
  t.false(fs.existsSync(path.join(dir, 'rio')), 'an aborted writeFile made the file')
  const error = await rejectionOf(t, readFile(file, { signal }))
  t.is(error.name, 'AbortError')
  t.is(error.code, 'ABORT_ERR')
})

test.serial('a signal aborted during a 64 MiB readFile or writeFile rejects it with an AbortError', async (t) => {
  const file = fileWith(t, big())
  const reading = new AbortController()
  const read = readFile(file, { signal: reading.signal })
  setImmediate(() => reading.abort())
  const readError = await rejectionOf(t, read)
  t.is(readError?.name, 'AbortError')
  const writing = new AbortController()
  const write = writeFile(path.join(path.dirname(file), 'out'), big(), { signal: writing.signal })
  setImmediate(() => writing.abort())
  const writeError = await rejectionOf(t, write)
  t.is(writeError?.name, 'AbortError')
  // The fd was closed after the rejection's cause: no chunk may still be on its way to that number.
  t.is(defaultRing().stats().inFlight, 0, 'chunk ops still in flight after the rejection')
})

test('parallel chunks stop at the first failure and settle before it is reported', async (t) => {
  const started = []
  let running = 0
  const failure = new Error('chunk 1 failed')
  const outcome = inParallel(20, 4, async (index) => {
    started.push(index)
    running++
    await new Promise((resolve) => setTimeout(resolve, index === 1 ? 5 : 40))
    running--
    if (index === 1) throw failure
  })
  t.is(await rejectionOf(t, outcome), failure)
  t.is(running, 0, 'a chunk was still running when the failure was reported')
  t.deepEqual(started, [0, 1, 2, 3], 'a chunk started after the failure')
})

test('writeFile of more than a chunk to a FIFO arrives in order (no parallel chunks into a stream)', async (t) => {
  const fifo = path.join(tempDir(t), 'fifo')
  execFileSync('mkfifo', [fifo])
  const data = pattern(8 * MiB, 251)
  const reader = fs.promises.readFile(fifo)
  await writeFile(fifo, data)
  t.true((await reader).equals(data), 'the FIFO carried the bytes out of order')
})

test('a signal that is not an AbortSignal is refused as Node refuses it', async (t) => {
  const file = fileWith(t, 'abc')
  await assertSameFailure(t, readFile(file, { signal: 'x' }), nodeFs.readFile(file, { signal: 'x' }), 'readFile')
  await assertSameFailure(t, writeFile(file, 'y', { signal: {} }), nodeFs.writeFile(file, 'y', { signal: {} }), 'writeFile')
})

// ---- results and exports ------------------------------------------------------------------------

test('FileHandle read, write, readv and writev results have the prototype Node\'s have', async (t) => {
  const file = fileWith(t, pattern(100))
  const { node, rio } = await bothOpen(t, file, 'r+')
  const results = async (handle) => [
    await handle.read(Buffer.alloc(10), 0, 10, 0),
    await handle.write(Buffer.from('ab'), 0, 2, 0),
    await handle.write('cd', 2),
    await handle.readv([Buffer.alloc(4)], 0),
    await handle.writev([Buffer.from('e')], 4),
  ].map((result) => Object.getPrototypeOf(result))
  t.deepEqual(await results(rio), await results(node))
})

test('rio-uring/fs exports every name node:fs/promises exports, named and on the default export', (t) => {
  const names = Object.keys(nodeFs)
  t.true(names.length > 20)
  for (const name of names) {
    t.true(name in rioNamespace, `named export ${name}`)
    t.true(name in rioFs, `default export's ${name}`)
    t.is(typeof rioNamespace[name], typeof nodeFs[name], name)
    t.is(typeof rioFs[name], typeof nodeFs[name], name)
  }
  t.is(rioFs.constants, nodeFs.constants)
})

// Ring's file ops against real files: nop, readAt, writeAt, readvAt, writevAt, fsync, fdatasync,
// syncFileRange, fallocate, open and close. What the ring writes is read back with node:fs and
// what node:fs writes is read back with the ring. Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { BAD_FD, assertSameSystemError, closeQuietly, fileWith, openRing, pattern, rejectionOf, tempDir } from './support.mjs'

const KiB = 1024
const MiB = 1024 * KiB
const FALLOC_FL_KEEP_SIZE = 1
const SYNC_FILE_RANGE_WRITE = 2

test('the suite runs on the backend RIO_URING_BACKEND names, with no silent fallback', (t) => {
  const ring = openRing(t)
  const wanted = process.env.RIO_URING_BACKEND
  if (wanted === 'io_uring' || wanted === 'threads') t.is(ring.backend, wanted)
  else t.true(ring.backend === 'io_uring' || ring.backend === 'threads')
  t.is(ring.stats().backend, ring.backend)
})

test('nop resolves to undefined after a round trip through the ring', async (t) => {
  const ring = openRing(t)
  t.is(await ring.nop(), undefined)
  const stats = ring.stats()
  t.is(stats.submitted, 1)
  t.is(stats.completed, 1)
  t.is(stats.inFlight, 0)
})

// ---- readAt / writeAt ---------------------------------------------------------------------------

test('readAt reads the bytes at the position into the whole buffer and resolves to the count', async (t) => {
  const ring = openRing(t)
  const contents = pattern(10_000)
  const { fd } = fileWith(t, contents)
  const buffer = Buffer.alloc(4096)
  t.is(await ring.readAt(fd, buffer, 0), 4096)
  t.deepEqual(buffer, contents.subarray(0, 4096))
  t.is(await ring.readAt(fd, buffer, 5000), 4096)
  t.deepEqual(buffer, contents.subarray(5000, 9096))
  t.is(await ring.readAt(fd, buffer, 5000n), 4096, 'a bigint position')
  t.deepEqual(buffer, contents.subarray(5000, 9096))
})

test('readAt near the end of the file is short and touches only the bytes it read; at the end it resolves to 0', async (t) => {
  const ring = openRing(t)
  const contents = pattern(10_000)
  const { fd } = fileWith(t, contents)
  const buffer = Buffer.alloc(4096, 0xee)
  t.is(await ring.readAt(fd, buffer, 9000), 1000)
  t.deepEqual(buffer.subarray(0, 1000), contents.subarray(9000))
  t.true(buffer.subarray(1000).every((byte) => byte === 0xee), 'bytes past the count were overwritten')
  t.is(await ring.readAt(fd, buffer, 10_000), 0)
  t.is(await ring.readAt(fd, buffer, 1_000_000), 0)
})

test('readAt fills exactly the view it is given: a subarray, a Uint16Array, a DataView', async (t) => {
  const ring = openRing(t)
  const contents = pattern(64)
  const { fd } = fileWith(t, contents)

  const backing = Buffer.alloc(32, 0xee)
  t.is(await ring.readAt(fd, backing.subarray(8, 24), 0), 16)
  t.deepEqual(backing.subarray(8, 24), contents.subarray(0, 16))
  t.true(backing.subarray(0, 8).every((byte) => byte === 0xee), 'bytes before the view were touched')
  t.true(backing.subarray(24).every((byte) => byte === 0xee), 'bytes after the view were touched')

  const words = new Uint16Array(8)
  t.is(await ring.readAt(fd, words, 0), 16)
  t.deepEqual(Buffer.from(words.buffer), contents.subarray(0, 16))

  const data = new DataView(new ArrayBuffer(24), 4, 12)
  t.is(await ring.readAt(fd, data, 16), 12)
  t.deepEqual(Buffer.from(data.buffer, 4, 12), contents.subarray(16, 28))
})

test('readAt of a zero-length buffer resolves to 0', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, pattern(100))
  t.is(await ring.readAt(fd, Buffer.alloc(0), 0), 0)
})

test('writeAt writes the whole buffer at the position and node:fs reads it back', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const first = pattern(5000, 1)
  const second = pattern(3000, 2)
  t.is(await ring.writeAt(fd, first, 0), 5000)
  t.is(await ring.writeAt(fd, second, 4000), 3000)
  const expected = Buffer.concat([first.subarray(0, 4000), second])
  t.deepEqual(fs.readFileSync(file), expected)
  t.is(fs.statSync(file).size, 7000)
})

test('writeAt writes only the view it is given', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const backing = Buffer.from('xxxxhello ring!yyyy')
  t.is(await ring.writeAt(fd, backing.subarray(4, 15), 0), 11)
  const words = new Uint16Array([0x6261, 0x6463]) // 'abcd' little-endian
  t.is(await ring.writeAt(fd, words, 11), 4)
  t.is(fs.readFileSync(file, 'latin1'), 'hello ring!abcd')
})

test('writeAt past the end of the file leaves a hole of zeros', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('abc'))
  t.is(await ring.writeAt(fd, Buffer.from('xyz'), 10), 3)
  t.deepEqual(fs.readFileSync(file), Buffer.from('abc\0\0\0\0\0\0\0xyz', 'latin1'))
})

test('a file the ring wrote reads back identical through the ring', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.alloc(0))
  const data = pattern(50_000, 7)
  t.is(await ring.writeAt(fd, data, 123), data.length)
  const back = Buffer.alloc(data.length)
  t.is(await ring.readAt(fd, back, 123), data.length)
  t.deepEqual(back, data)
})

test('writeAt and readAt at an offset past 4 GiB reach that offset', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const at = 5 * 1024 * MiB + 3
  t.is(await ring.writeAt(fd, Buffer.from('far'), at), 3)
  t.is(fs.statSync(file).size, at + 3)
  const back = Buffer.alloc(3)
  t.is(fs.readSync(fd, back, 0, 3, at), 3)
  t.is(back.toString(), 'far')
  back.fill(0)
  t.is(await ring.readAt(fd, back, BigInt(at)), 3)
  t.is(back.toString(), 'far')
})

// ---- the current position -------------------------------------------------------------------------

for (const [name, current] of [['null', null], ['undefined', undefined], ['-1', -1], ['-1n', -1n]]) {
  test(`readAt at the current position (${name}) reads on from where the last read stopped`, async (t) => {
    const ring = openRing(t)
    const contents = pattern(300)
    const { fd } = fileWith(t, contents)
    const buffer = Buffer.alloc(100)
    t.is(await ring.readAt(fd, buffer, current), 100)
    t.deepEqual(buffer, contents.subarray(0, 100))
    t.is(await ring.readAt(fd, buffer, current), 100)
    t.deepEqual(buffer, contents.subarray(100, 200))
    // A positioned read does not move the file offset.
    t.is(await ring.readAt(fd, buffer, 0), 100)
    t.is(await ring.readAt(fd, buffer, current), 100)
    t.deepEqual(buffer, contents.subarray(200, 300))
    t.is(await ring.readAt(fd, buffer, current), 0)
    // node:fs sees the same offset: the next read at the current position is at the end.
    t.is(fs.readSync(fd, Buffer.alloc(10), 0, 10, null), 0)
  })
}

test('readAt with no position argument reads at the current position', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.from('0123456789'))
  const buffer = Buffer.alloc(4)
  fs.readSync(fd, buffer, 0, 2, null)
  t.is(await ring.readAt(fd, buffer), 4)
  t.is(buffer.toString(), '2345')
  t.is(await ring.readAt(fd, buffer), 4)
  t.is(buffer.toString(), '6789')
})

test('writeAt at the current position appends where the last write stopped', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('----------'))
  t.is(await ring.writeAt(fd, Buffer.from('abc'), null), 3)
  t.is(await ring.writeAt(fd, Buffer.from('def')), 3)
  t.is(await ring.writeAt(fd, Buffer.from('gh'), -1), 2)
  t.is(fs.readFileSync(file, 'latin1'), 'abcdefgh--')
})

// ---- readvAt / writevAt ---------------------------------------------------------------------------

test('writevAt writes the buffers in order and resolves to the total', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('0123456789'))
  const parts = [Buffer.from('ab'), new Uint8Array([0x63, 0x64, 0x65]), Buffer.from('xyzf').subarray(3)]
  t.is(await ring.writevAt(fd, parts, 2), 6)
  t.is(fs.readFileSync(file, 'latin1'), '01abcdef89')
})

test('readvAt scatters the bytes over the buffers in order and resolves to the total', async (t) => {
  const ring = openRing(t)
  const contents = pattern(100)
  const { fd } = fileWith(t, contents)
  const parts = [Buffer.alloc(3), Buffer.alloc(5), new Uint8Array(10)]
  t.is(await ring.readvAt(fd, parts, 7), 18)
  t.deepEqual(parts[0], contents.subarray(7, 10))
  t.deepEqual(parts[1], contents.subarray(10, 15))
  t.deepEqual(Buffer.from(parts[2]), contents.subarray(15, 25))
})

test('readvAt skips an empty buffer among its targets', async (t) => {
  const ring = openRing(t)
  const contents = pattern(100)
  const { fd } = fileWith(t, contents)
  const parts = [Buffer.alloc(3), Buffer.alloc(0), new Uint8Array(0), Buffer.alloc(5)]
  t.is(await ring.readvAt(fd, parts, 7), 8)
  t.deepEqual(parts[0], contents.subarray(7, 10))
  t.deepEqual(parts[3], contents.subarray(10, 15))
})

test('readvAt near the end of the file fills the buffers in order and leaves the rest untouched', async (t) => {
  const ring = openRing(t)
  const contents = pattern(20)
  const { fd } = fileWith(t, contents)
  const parts = [Buffer.alloc(4, 0xee), Buffer.alloc(4, 0xee), Buffer.alloc(4, 0xee)]
  t.is(await ring.readvAt(fd, parts, 14), 6)
  t.deepEqual(parts[0], contents.subarray(14, 18))
  t.deepEqual(parts[1], Buffer.concat([contents.subarray(18, 20), Buffer.from([0xee, 0xee])]))
  t.deepEqual(parts[2], Buffer.alloc(4, 0xee))
  t.is(await ring.readvAt(fd, parts, 20), 0)
})

test('readvAt and writevAt at the current position move the file offset', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  t.is(await ring.writevAt(fd, [Buffer.from('ab'), Buffer.from('cd')], null), 4)
  t.is(await ring.writevAt(fd, [Buffer.from('ef')]), 2)
  t.is(fs.readFileSync(file, 'latin1'), 'abcdef')
  const reader = fs.openSync(file, 'r')
  t.teardown(() => closeQuietly(reader))
  const parts = [Buffer.alloc(2), Buffer.alloc(1)]
  t.is(await ring.readvAt(reader, parts, null), 3)
  t.is(Buffer.concat(parts).toString(), 'abc')
  t.is(await ring.readvAt(reader, parts, -1), 3)
  t.is(Buffer.concat(parts).toString(), 'def')
})

test('readvAt and writevAt take more buffers than IOV_MAX (1024)', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const data = pattern(3000, 4)
  const singles = (bytes) => Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))
  t.is(await ring.writevAt(fd, singles(data), 0), 3000)
  t.true(fs.readFileSync(file).equals(data))
  const back = Buffer.alloc(3000)
  t.is(await ring.readvAt(fd, singles(back), 0), 3000)
  t.true(back.equals(data))
})

test('readvAt and writevAt of no buffers resolve to 0', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('abc'))
  t.is(await ring.writevAt(fd, [], 0), 0)
  t.is(await ring.readvAt(fd, [], 0), 0)
  t.is(fs.readFileSync(file, 'latin1'), 'abc')
})

// ---- ops larger than a staging slot (64 KiB) ----------------------------------------------------

for (const size of [64 * KiB + 1, 1 * MiB, 8 * MiB]) {
  test(`a ${size}-byte writeAt and readAt round-trip, larger than a staging slot`, async (t) => {
    const ring = openRing(t)
    const { file, fd } = fileWith(t, Buffer.alloc(0))
    const data = pattern(size, size)
    t.is(await ring.writeAt(fd, data, 4096), size)
    t.is(fs.statSync(file).size, 4096 + size)
    t.true(fs.readFileSync(file).subarray(4096).equals(data), 'node:fs read back different bytes')
    const back = Buffer.alloc(size)
    t.is(await ring.readAt(fd, back, 4096), size)
    t.true(back.equals(data), 'the ring read back different bytes')
  })
}

test('8 MiB of writevAt and readvAt over unequal buffers round-trip', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const data = pattern(8 * MiB, 3)
  const cuts = [0, 10, 70_000, 3 * MiB, 3 * MiB + 1, 8 * MiB]
  const pieces = (bytes) => cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end))
  t.is(await ring.writevAt(fd, pieces(data), 0), data.length)
  t.true(fs.readFileSync(file).equals(data), 'node:fs read back different bytes')
  const back = Buffer.alloc(data.length)
  t.is(await ring.readvAt(fd, pieces(back), 0), data.length)
  t.true(back.equals(data), 'readvAt scattered different bytes')
})

test('a large readAt past the end of the file is short and leaves the rest of the buffer untouched', async (t) => {
  const ring = openRing(t)
  const contents = pattern(100_000)
  const { fd } = fileWith(t, contents)
  const buffer = Buffer.alloc(1 * MiB, 0xee)
  t.is(await ring.readAt(fd, buffer, 0), 100_000)
  t.true(buffer.subarray(0, 100_000).equals(contents))
  t.true(buffer.subarray(100_000).every((byte) => byte === 0xee), 'bytes past the count were overwritten')
})

test('large and small reads and writes in flight together all land where they belong', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const chunks = [100, 2 * MiB, 4096, 300 * KiB, 1, MiB].map((size, i) => pattern(size, i + 10))
  let at = 0
  const offsets = chunks.map((chunk) => (at += chunk.length) - chunk.length)
  const written = await Promise.all(chunks.map((chunk, i) => ring.writeAt(fd, chunk, offsets[i])))
  t.deepEqual(written, chunks.map((chunk) => chunk.length))
  t.true(fs.readFileSync(file).equals(Buffer.concat(chunks)))
  const backs = chunks.map((chunk) => Buffer.alloc(chunk.length))
  const read = await Promise.all(backs.map((back, i) => ring.readAt(fd, back, offsets[i])))
  t.deepEqual(read, written)
  for (let i = 0; i < chunks.length; i++) t.true(backs[i].equals(chunks[i]), `chunk ${i} read back different bytes`)
})

// ---- fsync, fdatasync, syncFileRange, fallocate ---------------------------------------------------

test('fsync and fdatasync resolve for a file with written data', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  await ring.writeAt(fd, Buffer.from('durable'), 0)
  t.is(await ring.fsync(fd), undefined)
  t.is(await ring.fdatasync(fd), undefined)
  t.is(fs.readFileSync(file, 'latin1'), 'durable')
})

test('fsync, fdatasync and syncFileRange on a bad fd reject with EBADF and their syscall', async (t) => {
  const ring = openRing(t)
  for (const [syscall, promise] of [
    ['fsync', ring.fsync(BAD_FD)],
    ['fdatasync', ring.fdatasync(BAD_FD)],
    ['sync_file_range', ring.syncFileRange(BAD_FD, 0, 0)],
  ]) {
    const error = await rejectionOf(t, promise)
    t.is(error.code, 'EBADF', syscall)
    t.is(error.errno, -9)
    t.is(error.syscall, syscall)
    t.is(error.message, `EBADF: bad file descriptor, ${syscall}`)
  }
  const expected = await rejectionOf(t, promisify(fs.fsync)(BAD_FD))
  const error = await rejectionOf(t, ring.fsync(BAD_FD))
  assertSameSystemError(t, error, expected)
})

test('syncFileRange resolves for a range, the whole file, and write-only flags', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  await ring.writeAt(fd, pattern(20_000), 0)
  t.is(await ring.syncFileRange(fd, 4096, 8192), undefined)
  t.is(await ring.syncFileRange(fd, 0, 0), undefined)
  t.is(await ring.syncFileRange(fd, 0, 4096, SYNC_FILE_RANGE_WRITE), undefined)
  t.true(fs.readFileSync(file).equals(pattern(20_000)))
})

test('syncFileRange rejects with ESPIPE on a FIFO', async (t) => {
  const ring = openRing(t)
  const fifo = path.join(tempDir(t), 'fifo')
  execFileSync('mkfifo', [fifo])
  // Opened read-write, a FIFO does not wait for a peer.
  const fd = fs.openSync(fifo, 'r+')
  t.teardown(() => closeQuietly(fd))
  const error = await rejectionOf(t, ring.syncFileRange(fd, 0, 0))
  t.is(error.code, 'ESPIPE')
  t.is(error.syscall, 'sync_file_range')
})

test('on a FIFO, readAt and writeAt ignore an explicit position, as io_uring does, on both backends', async (t) => {
  const ring = openRing(t)
  const fifo = path.join(tempDir(t), 'fifo')
  execFileSync('mkfifo', [fifo])
  const fd = fs.openSync(fifo, 'r+')
  t.teardown(() => closeQuietly(fd))
  t.is(await ring.writeAt(fd, Buffer.from('pipe data'), null), 9)
  const buffer = Buffer.alloc(4)
  t.is(await ring.readAt(fd, buffer, null), 4)
  t.is(buffer.toString(), 'pipe')
  // pread(2) would fail with ESPIPE; io_uring reads the stream, and the threads backend does the same.
  t.is(await ring.writeAt(fd, Buffer.from('!'), 1000), 1)
  t.is(await ring.readAt(fd, buffer, 12345), 4)
  t.is(buffer.toString(), ' dat')
  t.is(await ring.readAt(fd, buffer, 0), 2)
  t.is(buffer.subarray(0, 2).toString(), 'a!')
})

test('fallocate with mode 0 grows the file to offset + length, filled with zeros', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('abc'))
  t.is(await ring.fallocate(fd, 0, 1 * MiB), undefined)
  t.is(fs.statSync(file).size, 1 * MiB)
  await ring.fallocate(fd, 2 * MiB, 4096)
  t.is(fs.statSync(file).size, 2 * MiB + 4096)
  const contents = fs.readFileSync(file)
  t.is(contents.subarray(0, 3).toString(), 'abc')
  t.true(contents.subarray(3).every((byte) => byte === 0))
})

test('fallocate with FALLOC_FL_KEEP_SIZE allocates blocks without changing the size', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('abc'))
  const before = fs.statSync(file)
  try {
    await ring.fallocate(fd, 0, 4 * MiB, FALLOC_FL_KEEP_SIZE)
  } catch (error) {
    if (error.code === 'EOPNOTSUPP') return t.pass('the file system does not support FALLOC_FL_KEEP_SIZE')
    throw error
  }
  const after = fs.statSync(file)
  t.is(after.size, 3)
  t.true(after.blocks * 512 >= 4 * MiB, `only ${after.blocks} blocks allocated (had ${before.blocks})`)
})

test('fallocate on a file opened read-only rejects with EBADF', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.from('abc'), 'r')
  const error = await rejectionOf(t, ring.fallocate(fd, 0, 4096))
  t.is(error.code, 'EBADF')
  t.is(error.syscall, 'fallocate')
})

// ---- open / close -------------------------------------------------------------------------------

test("open with 'w' creates the file with the mode (less the umask) and resolves to a writable fd", async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'new')
  const fd = await ring.open(file, 'w', 0o640)
  t.teardown(() => closeQuietly(fd))
  t.true(Number.isInteger(fd) && fd > 2)
  t.is(fs.statSync(file).mode & 0o777, 0o640 & ~process.umask())
  t.is(await ring.writeAt(fd, Buffer.from('written'), 0), 7)
  t.is(fs.readFileSync(file, 'latin1'), 'written')
  // 'w' opens write-only: reading through the fd fails.
  t.is((await rejectionOf(t, ring.readAt(fd, Buffer.alloc(1), 0))).code, 'EBADF')
})

test("open with 'w' truncates an existing file; 'r' opens it read-only; the default is 'r'", async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'existing')
  fs.writeFileSync(file, 'old contents')
  const writer = await ring.open(file, 'w')
  t.teardown(() => closeQuietly(writer))
  t.is(fs.statSync(file).size, 0)
  fs.writeFileSync(file, 'new')
  for (const reader of [await ring.open(file, 'r'), await ring.open(file)]) {
    t.teardown(() => closeQuietly(reader))
    const buffer = Buffer.alloc(10)
    t.is(await ring.readAt(reader, buffer, 0), 3)
    t.is(buffer.subarray(0, 3).toString(), 'new')
    t.is((await rejectionOf(t, ring.writeAt(reader, Buffer.from('x'), 0))).code, 'EBADF')
  }
})

test("open with 'a' appends every write at the end of the file", async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'log')
  fs.writeFileSync(file, 'one\n')
  const fd = await ring.open(file, 'a')
  t.teardown(() => closeQuietly(fd))
  await ring.writeAt(fd, Buffer.from('two\n'), null)
  await ring.writeAt(fd, Buffer.from('three\n'), null)
  t.is(fs.readFileSync(file, 'latin1'), 'one\ntwo\nthree\n')
})

test("open with 'r+' reads and writes without truncating", async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'both')
  fs.writeFileSync(file, 'abcdef')
  const fd = await ring.open(file, 'r+')
  t.teardown(() => closeQuietly(fd))
  await ring.writeAt(fd, Buffer.from('XY'), 2)
  const buffer = Buffer.alloc(6)
  t.is(await ring.readAt(fd, buffer, 0), 6)
  t.is(buffer.toString(), 'abXYef')
})

test('open with numeric flags and a mode creates the file exclusively', async (t) => {
  const ring = openRing(t)
  const { O_RDWR, O_CREAT, O_EXCL } = fs.constants
  const file = path.join(tempDir(t), 'numeric')
  const fd = await ring.open(file, O_RDWR | O_CREAT | O_EXCL, 0o600)
  t.teardown(() => closeQuietly(fd))
  const stat = fs.statSync(file)
  t.true(stat.isFile())
  t.is(stat.mode & 0o777, 0o600 & ~process.umask())
  await ring.writeAt(fd, Buffer.from('rw'), 0)
  const buffer = Buffer.alloc(2)
  t.is(await ring.readAt(fd, buffer, 0), 2)
  t.is(buffer.toString(), 'rw')
  const again = await rejectionOf(t, ring.open(file, O_RDWR | O_CREAT | O_EXCL, 0o600))
  t.is(again.code, 'EEXIST')
})

test('open passes O_DIRECT through, and aligned IO of 4 KiB and 1 MiB works on the O_DIRECT fd', async (t) => {
  const ring = openRing(t)
  const { O_RDWR, O_CREAT, O_DIRECT } = fs.constants
  const file = path.join(tempDir(t), 'direct')
  let fd
  try {
    fd = await ring.open(file, O_RDWR | O_CREAT | O_DIRECT, 0o600)
  } catch (error) {
    if (error.code === 'EINVAL') return t.pass('the temp dir file system refuses O_DIRECT')
    throw error
  }
  t.teardown(() => closeQuietly(fd))
  const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))[1], 8)
  t.true((flags & O_DIRECT) !== 0, `fdinfo flags ${flags.toString(8)} lack O_DIRECT`)
  for (const size of [4096, 1 * MiB]) {
    const data = pattern(size, size)
    t.is(await ring.writeAt(fd, data, size), size)
    const back = Buffer.alloc(size)
    t.is(await ring.readAt(fd, back, size), size)
    t.true(back.equals(data), `${size} bytes read back differ`)
  }
})

test('open accepts a file URL and a Buffer path', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'named')
  fs.writeFileSync(file, 'by url')
  for (const name of [pathToFileURL(file), Buffer.from(file)]) {
    const fd = await ring.open(name)
    t.teardown(() => closeQuietly(fd))
    const buffer = Buffer.alloc(6)
    t.is(await ring.readAt(fd, buffer, 0), 6)
    t.is(buffer.toString(), 'by url')
  }
})

test('open of a missing file rejects exactly as fs/promises open does', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'missing', 'file')
  const expected = await rejectionOf(t, fsp.open(file, 'r'))
  const error = await rejectionOf(t, ring.open(file, 'r'))
  assertSameSystemError(t, error, expected)
  t.is(error.message, `ENOENT: no such file or directory, open '${file}'`)
})

test("open with 'wx' of an existing file rejects exactly as fs/promises open does", async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'exists')
  fs.writeFileSync(file, '')
  const expected = await rejectionOf(t, fsp.open(file, 'wx'))
  const error = await rejectionOf(t, ring.open(file, 'wx'))
  assertSameSystemError(t, error, expected)
})

test('open of a directory for writing rejects exactly as fs/promises open does', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const expected = await rejectionOf(t, fsp.open(dir, 'r+'))
  const error = await rejectionOf(t, ring.open(dir, 'r+'))
  assertSameSystemError(t, error, expected)
  t.is(error.code, 'EISDIR')
})

// Serial: between the close and the check, no other test of this file may open a file that
// could be given the same fd number.
test.serial('close(fd) closes the fd: node:fs then sees EBADF, and a second close rejects with EBADF', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'closing')
  const fd = await ring.open(file, 'w')
  t.notThrows(() => fs.fstatSync(fd))
  t.is(await ring.close(fd), undefined)
  t.throws(() => fs.fstatSync(fd), { code: 'EBADF' })
  const expected = await rejectionOf(t, promisify(fs.close)(fd))
  const error = await rejectionOf(t, ring.close(fd))
  assertSameSystemError(t, error, expected)
  t.is(error.message, 'EBADF: bad file descriptor, close')
})

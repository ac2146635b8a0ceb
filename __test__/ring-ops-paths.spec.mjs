// Ring's path ops against a real file system: statx (by path and fd, bigint, symlinks), unlink,
// rmdir, rename and mkdir. Results are checked with node:fs, and each failure against the error
// node:fs/promises gives for the same call. Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { BAD_FD, assertSameSystemError, closeQuietly, openRing, pattern, rejectionOf, tempDir } from './support.mjs'

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const STATX_BASIC_STATS = 0x7ff

/** The fields of a ring statx result that must equal node:fs's stat of the same file. */
const SAME_AS_NODE = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks', 'atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs']

function assertMatchesNodeStat(t, stats, expected) {
  for (const field of SAME_AS_NODE) t.is(stats[field], expected[field], field)
}

// ---- statx --------------------------------------------------------------------------------------

test('statx of a path gives what fs.stat gives', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'file')
  fs.writeFileSync(file, pattern(12_345))
  fs.chmodSync(file, 0o640)
  const stats = await ring.statx(file)
  assertMatchesNodeStat(t, stats, fs.statSync(file))
  t.is(stats.mode & S_IFMT, S_IFREG)
  t.is(stats.mode & 0o777, 0o640)
  t.is(stats.size, 12_345)
  t.is(stats.mask & STATX_BASIC_STATS, STATX_BASIC_STATS)
  t.is(typeof stats.attributes, 'number')
})

test('statx of an open fd gives what fs.fstat gives', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'file')
  fs.writeFileSync(file, 'some bytes')
  const fd = fs.openSync(file, 'r')
  t.teardown(() => closeQuietly(fd))
  const stats = await ring.statx(fd)
  assertMatchesNodeStat(t, stats, fs.fstatSync(fd))
  t.is(stats.size, 10)
  // The fd keeps describing the file after its name is gone.
  fs.unlinkSync(file)
  const unlinked = await ring.statx(fd)
  t.is(unlinked.ino, stats.ino)
  t.is(unlinked.nlink, 0)
})

test('statx with bigint: true gives bigint fields and nanosecond times equal to fs.stat bigint', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'file')
  fs.writeFileSync(file, pattern(777))
  const when = new Date('2001-02-03T04:05:06.789Z')
  fs.utimesSync(file, when, when)
  const stats = await ring.statx(file, { bigint: true })
  const expected = fs.statSync(file, { bigint: true })
  for (const field of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'blocks', 'atimeMs', 'mtimeMs', 'ctimeMs', 'birthtimeMs', 'atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs']) {
    t.is(typeof stats[field], 'bigint', field)
    t.is(stats[field], expected[field], field)
  }
  t.is(stats.size, 777n)
  t.is(stats.mtimeNs, BigInt(when.getTime()) * 1_000_000n)
  t.is(stats.mtimeMs, BigInt(when.getTime()))
  t.is((await ring.statx(file)).mtimeMs, when.getTime(), 'number times are milliseconds')
})

test('statx with bigint: true works on an fd too', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'file')
  fs.writeFileSync(file, 'abc')
  const fd = fs.openSync(file, 'r')
  t.teardown(() => closeQuietly(fd))
  const stats = await ring.statx(fd, { bigint: true })
  t.is(stats.size, 3n)
  t.is(stats.ino, fs.fstatSync(fd, { bigint: true }).ino)
})

test('statx follows a symlink by default and describes the link itself with symlinks: false', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const target = path.join(dir, 'target')
  const link = path.join(dir, 'link')
  fs.writeFileSync(target, pattern(5000))
  fs.symlinkSync(target, link)

  const followed = await ring.statx(link)
  t.is(followed.mode & S_IFMT, S_IFREG)
  t.is(followed.ino, fs.statSync(target).ino)
  t.is(followed.size, 5000)

  const own = await ring.statx(link, { symlinks: false })
  assertMatchesNodeStat(t, own, fs.lstatSync(link))
  t.is(own.mode & S_IFMT, S_IFLNK)
  t.is(own.size, Buffer.byteLength(target))
  t.not(own.ino, followed.ino)

  const ownBig = await ring.statx(link, { symlinks: false, bigint: true })
  t.is(ownBig.mode & BigInt(S_IFMT), BigInt(S_IFLNK))
  t.is(ownBig.ino, fs.lstatSync(link, { bigint: true }).ino)
})

test('statx of a dangling symlink rejects with ENOENT, and with symlinks: false describes the link', async (t) => {
  const ring = openRing(t)
  const link = path.join(tempDir(t), 'dangling')
  fs.symlinkSync('/nonexistent/rio-uring-target', link)
  const error = await rejectionOf(t, ring.statx(link))
  t.is(error.code, 'ENOENT')
  t.is(error.path, link)
  const own = await ring.statx(link, { symlinks: false })
  t.is(own.mode & S_IFMT, S_IFLNK)
})

test('statx of a directory says it is a directory', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const stats = await ring.statx(dir)
  t.is(stats.mode & S_IFMT, S_IFDIR)
  assertMatchesNodeStat(t, stats, fs.statSync(dir))
})

test('statx resolves a relative path against the current directory', async (t) => {
  const ring = openRing(t)
  const stats = await ring.statx('package.json')
  t.is(stats.ino, fs.statSync('package.json').ino)
})

test('statx of a missing path rejects with ENOENT, the path, and the shape fs.stat gives', async (t) => {
  const ring = openRing(t)
  const missing = path.join(tempDir(t), 'missing')
  const expected = await rejectionOf(t, fsp.stat(missing))
  const error = await rejectionOf(t, ring.statx(missing))
  t.true(error instanceof Error)
  t.is(error.code, expected.code)
  t.is(error.errno, expected.errno)
  t.is(error.path, missing)
  t.is(error.message, `ENOENT: no such file or directory, ${error.syscall} '${missing}'`)
})

test('statx of a bad fd rejects with EBADF', async (t) => {
  const ring = openRing(t)
  const error = await rejectionOf(t, ring.statx(BAD_FD))
  t.is(error.code, 'EBADF')
  t.is(error.errno, -9)
  t.is(typeof error.syscall, 'string')
})

// ---- unlink / rmdir -----------------------------------------------------------------------------

test('unlink removes a file', async (t) => {
  const ring = openRing(t)
  const file = path.join(tempDir(t), 'doomed')
  fs.writeFileSync(file, 'x')
  t.is(await ring.unlink(file), undefined)
  t.false(fs.existsSync(file))
})

test('unlink of a symlink removes the link, not its target', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const target = path.join(dir, 'target')
  const link = path.join(dir, 'link')
  fs.writeFileSync(target, 'kept')
  fs.symlinkSync(target, link)
  await ring.unlink(link)
  t.throws(() => fs.lstatSync(link), { code: 'ENOENT' })
  t.is(fs.readFileSync(target, 'latin1'), 'kept')
})

test('unlink of a missing file and of a directory reject as fs/promises unlink does', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const missing = path.join(dir, 'missing')
  assertSameSystemError(t, await rejectionOf(t, ring.unlink(missing)), await rejectionOf(t, fsp.unlink(missing)))
  const sub = path.join(dir, 'sub')
  fs.mkdirSync(sub)
  const error = await rejectionOf(t, ring.unlink(sub))
  assertSameSystemError(t, error, await rejectionOf(t, fsp.unlink(sub)))
  t.is(error.code, 'EISDIR')
  t.true(fs.existsSync(sub))
})

test('rmdir removes an empty directory', async (t) => {
  const ring = openRing(t)
  const sub = path.join(tempDir(t), 'empty')
  fs.mkdirSync(sub)
  t.is(await ring.rmdir(sub), undefined)
  t.false(fs.existsSync(sub))
})

test('rmdir of a non-empty directory, a file and a missing path reject as fs/promises rmdir does', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const full = path.join(dir, 'full')
  fs.mkdirSync(full)
  fs.writeFileSync(path.join(full, 'inside'), '')
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, '')
  const missing = path.join(dir, 'missing')
  const codes = []
  for (const target of [full, file, missing]) {
    const error = await rejectionOf(t, ring.rmdir(target))
    assertSameSystemError(t, error, await rejectionOf(t, fsp.rmdir(target)))
    codes.push(error.code)
  }
  t.deepEqual(codes, ['ENOTEMPTY', 'ENOTDIR', 'ENOENT'])
  t.true(fs.existsSync(path.join(full, 'inside')))
  t.true(fs.existsSync(file))
})

// ---- rename -------------------------------------------------------------------------------------

test('rename moves a file and keeps its contents', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const from = path.join(dir, 'from')
  const to = path.join(dir, 'to')
  const contents = pattern(3000)
  fs.writeFileSync(from, contents)
  const ino = fs.statSync(from).ino
  t.is(await ring.rename(from, to), undefined)
  t.false(fs.existsSync(from))
  t.deepEqual(fs.readFileSync(to), contents)
  t.is(fs.statSync(to).ino, ino)
})

test('rename replaces an existing destination file', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const from = path.join(dir, 'from')
  const to = path.join(dir, 'to')
  fs.writeFileSync(from, 'new')
  fs.writeFileSync(to, 'old')
  await ring.rename(from, to)
  t.is(fs.readFileSync(to, 'latin1'), 'new')
  t.deepEqual(fs.readdirSync(dir), ['to'])
})

test('rename moves a directory with its contents', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  fs.mkdirSync(path.join(dir, 'a'))
  fs.writeFileSync(path.join(dir, 'a', 'inside'), 'yes')
  await ring.rename(path.join(dir, 'a'), path.join(dir, 'b'))
  t.is(fs.readFileSync(path.join(dir, 'b', 'inside'), 'latin1'), 'yes')
  t.false(fs.existsSync(path.join(dir, 'a')))
})

test('rename of a missing file rejects as fs/promises rename does, with path and dest', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const from = path.join(dir, 'missing')
  const to = path.join(dir, 'to')
  const error = await rejectionOf(t, ring.rename(from, to))
  assertSameSystemError(t, error, await rejectionOf(t, fsp.rename(from, to)))
  t.is(error.path, from)
  t.is(error.dest, to)
  t.is(error.message, `ENOENT: no such file or directory, rename '${from}' -> '${to}'`)
})

test('rename of a directory onto a non-empty directory rejects as fs/promises rename does', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const from = path.join(dir, 'from')
  const to = path.join(dir, 'to')
  fs.mkdirSync(from)
  fs.mkdirSync(to)
  fs.writeFileSync(path.join(to, 'inside'), '')
  const error = await rejectionOf(t, ring.rename(from, to))
  assertSameSystemError(t, error, await rejectionOf(t, fsp.rename(from, to)))
  t.true(['ENOTEMPTY', 'EEXIST'].includes(error.code))
})

// ---- mkdir --------------------------------------------------------------------------------------

test('mkdir creates a directory with the mode, less the umask', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const sub = path.join(dir, 'sub')
  t.is(await ring.mkdir(sub, 0o750), undefined)
  const stat = fs.statSync(sub)
  t.true(stat.isDirectory())
  t.is(stat.mode & 0o777, 0o750 & ~process.umask())
  const byDefault = path.join(dir, 'default')
  await ring.mkdir(byDefault)
  t.is(fs.statSync(byDefault).mode & 0o777, 0o777 & ~process.umask())
})

test('mkdir of an existing path and under a missing parent reject as fs/promises mkdir does', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const existing = path.join(dir, 'existing')
  fs.mkdirSync(existing)
  const exists = await rejectionOf(t, ring.mkdir(existing))
  assertSameSystemError(t, exists, await rejectionOf(t, fsp.mkdir(existing)))
  t.is(exists.code, 'EEXIST')
  const orphan = path.join(dir, 'missing', 'sub')
  const noParent = await rejectionOf(t, ring.mkdir(orphan))
  assertSameSystemError(t, noParent, await rejectionOf(t, fsp.mkdir(orphan)))
  t.is(noParent.code, 'ENOENT')
})

// ---- paths in general ---------------------------------------------------------------------------

test('a non-ASCII path is passed to the kernel as UTF-8', async (t) => {
  const ring = openRing(t)
  const dir = tempDir(t)
  const name = path.join(dir, 'fichier-é-文件-🙂')
  await ring.mkdir(name)
  t.true(fs.readdirSync(dir).includes('fichier-é-文件-🙂'))
  const renamed = path.join(dir, 'ü')
  await ring.rename(name, renamed)
  t.true((await ring.statx(renamed)).mode !== 0)
  await ring.rmdir(renamed)
  t.deepEqual(fs.readdirSync(dir), [])
})

for (const length of [5000, 40_000]) {
  test(`a ${length}-character path rejects with ENAMETOOLONG as fs/promises open does`, async (t) => {
    const ring = openRing(t)
    const long = path.join(tempDir(t), 'x'.repeat(length))
    const error = await rejectionOf(t, ring.open(long, 'r'))
    assertSameSystemError(t, error, await rejectionOf(t, fsp.open(long, 'r')))
    t.is(error.code, 'ENAMETOOLONG')
  })
}

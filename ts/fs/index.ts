/**
 * `rio-uring/fs`: a drop-in for `node:fs/promises`. Change the import and keep everything else:
 * the same functions, option objects, results (`fs.Stats` included) and errors.
 *
 * ```ts
 * import { readFile, open } from 'rio-uring/fs'   // instead of 'node:fs/promises'
 * ```
 *
 * Through io_uring, on this thread's default ring: open, readFile, writeFile, appendFile, stat,
 * lstat, unlink, rename, mkdir (recursive too), rmdir, truncate, copyFile, link, symlink, and
 * every FileHandle read, write, sync, stat, truncate and close. What io_uring has no op for
 * (readdir, opendir, access, chmod, chown, utimes, readlink, realpath, mkdtemp, rm, cp, watch,
 * statfs, glob) is Node's own implementation, re-exported.
 * @packageDocumentation
 */
import * as nodeFs from 'node:fs'
import * as fsp from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AbortError, invalidArgType, systemError, type SystemError } from '../errors.js'
import { openFlags } from '../flags.js'
import { defaultRing, type Ring } from '../ring.js'
import { FileHandle, writeData } from './filehandle.js'
import { readWhole } from './io.js'
import { checkAborted, integerOf, modeOf, optionsOf } from './options.js'
import { toStats } from './stats.js'

export { FileHandle }
export const constants = nodeFs.constants

// What io_uring has no op for: Node's own.
export const { access, chmod, chown, lchmod, lchown, lutimes, utimes, readlink, realpath, mkdtemp, rm, cp, watch, statfs, opendir, readdir } = fsp
/** `fs/promises.glob` (Node 22 and later; undefined before). */
export const glob = (fsp as { glob?: unknown }).glob as unknown

type PathLike = string | Buffer | URL

/** Whether `value` is a handle `open` made (as opposed to a path). */
function isHandle(value: unknown): value is FileHandle {
  return value instanceof FileHandle
}

/** Opens `path`: a `FileHandle` whose ops go through the ring. */
export async function open(path: PathLike, flags: string | number = 'r', mode: number | string = 0o666): Promise<FileHandle> {
  const ring = defaultRing()
  const fd = await ring.open(path, openFlags(flags), modeOf(mode, 0o666))
  return new FileHandle(fd, ring)
}

/** Runs `body` with an fd for `file`: the handle's own, or one opened (and then closed) here. */
async function withFile<T>(file: PathLike | FileHandle, flags: number, mode: number, body: (fd: number, ring: Ring, opened: boolean) => Promise<T>): Promise<T> {
  if (isHandle(file)) {
    if (file.fd === -1) {
      const error = new Error('file closed') as Error & { code: string; syscall: string }
      error.code = 'EBADF'
      error.syscall = 'read'
      throw error
    }
    return body(file.fd, defaultRing(), false)
  }
  const ring = defaultRing()
  const fd = await ring.open(file, flags, mode)
  try {
    return await body(fd, ring, true)
  } finally {
    await ring.close(fd)
  }
}

/** The whole file, as a Buffer or (with an encoding) a string. Large files are read in parallel chunks. */
export async function readFile(
  path: PathLike | FileHandle,
  options?: BufferEncoding | { encoding?: BufferEncoding | null; flag?: string | number; signal?: AbortSignal } | null,
): Promise<Buffer | string> {
  const { encoding, flag, signal } = optionsOf<{ encoding?: BufferEncoding | null; flag?: string | number; signal?: AbortSignal }>(options, { flag: 'r' })
  checkAborted(signal, AbortError)
  const data = await withFile(path, openFlags(flag), 0o666, (fd, ring, opened) => readWhole(ring, fd, opened, signal))
  return encoding ? data.toString(encoding) : data
}

interface WriteOptions {
  encoding?: BufferEncoding | null
  mode?: number | string
  flag?: string | number
  signal?: AbortSignal
  flush?: boolean
}

/** Writes `data` (string, bytes, or an (async) iterable of chunks) to the file, replacing it. */
export async function writeFile(path: PathLike | FileHandle, data: unknown, options?: BufferEncoding | WriteOptions | null): Promise<void> {
  return writeTo(path, data, options, 'w')
}

/** Appends `data` to the file, creating it if needed. */
export async function appendFile(path: PathLike | FileHandle, data: unknown, options?: BufferEncoding | WriteOptions | null): Promise<void> {
  return writeTo(path, data, options, 'a')
}

async function writeTo(path: PathLike | FileHandle, data: unknown, options: BufferEncoding | WriteOptions | null | undefined, defaultFlag: string): Promise<void> {
  const { encoding, mode, flag, signal, flush } = optionsOf<WriteOptions>(options, { encoding: 'utf8', mode: 0o666, flag: defaultFlag })
  checkAborted(signal, AbortError)
  const flags = openFlags(flag)
  // Parallel chunks at explicit offsets only into a file opened here without O_APPEND.
  const appending = (flags & nodeFs.constants.O_APPEND) !== 0
  await withFile(path, flags, modeOf(mode, 0o666), async (fd, ring, opened) => {
    await writeData(ring, fd, data, encoding ?? 'utf8', opened && !appending, signal)
    if (flush === true) await ring.fsync(fd)
  })
}

/** `stat(2)` through the ring: an `fs.Stats` (`BigIntStats` with `bigint: true`). */
export async function stat(path: PathLike, options?: { bigint?: boolean }): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
  return statOf(path, options, true)
}

/** `lstat(2)` through the ring: a symbolic link's own status. */
export async function lstat(path: PathLike, options?: { bigint?: boolean }): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
  return statOf(path, options, false)
}

async function statOf(path: PathLike, options: { bigint?: boolean } | undefined, follow: boolean): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
  const bigint = options?.bigint === true
  const syscall = follow ? 'stat' : 'lstat'
  const ring = defaultRing()
  const result = bigint
    ? await ring.statx(path, { bigint: true, symlinks: follow, syscall })
    : await ring.statx(path, { symlinks: follow, syscall })
  return toStats(result, bigint)
}

export async function unlink(path: PathLike): Promise<void> {
  return defaultRing().unlink(path)
}

export async function rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
  return defaultRing().rename(oldPath, newPath)
}

/** `rmdir(2)`; the deprecated `recursive` option goes to Node. */
export async function rmdir(path: PathLike, options?: nodeFs.RmDirOptions): Promise<void> {
  if (options !== undefined) return fsp.rmdir(path, options)
  return defaultRing().rmdir(path)
}

/**
 * `mkdir(2)`; with `recursive`, missing parents too, resolving to the first directory created
 * (undefined if none was), as Node does.
 */
export async function mkdir(path: PathLike, options?: number | string | { recursive?: boolean; mode?: number | string }): Promise<string | undefined> {
  const { recursive = false, mode } = typeof options === 'object' && options !== null ? options : { mode: options }
  const permissions = modeOf(mode, 0o777)
  const ring = defaultRing()
  if (!recursive) {
    await ring.mkdir(path, permissions)
    return undefined
  }
  const target = path instanceof URL ? fileURLToPath(path) : path.toString()
  const wanted = resolve(target)
  // Walk up until a mkdir succeeds or meets an existing directory; then make the rest downwards.
  const missing: string[] = []
  let current = wanted
  let first: string | undefined
  for (;;) {
    const outcome = await ring.mkdir(current, permissions).then(() => null, (error: SystemError) => error)
    if (outcome === null) {
      first = current
      break
    }
    if (outcome.code === 'ENOENT' && dirname(current) !== current) {
      missing.push(current)
      current = dirname(current)
      continue
    }
    if (outcome.code === 'EEXIST') {
      const existing = await ring.statx(current).catch(() => null)
      const isDirectory = existing !== null && (existing.mode & 0o170000) === 0o040000
      if (isDirectory && current === wanted) return undefined
      if (isDirectory) break
      // A file where a directory must be: EEXIST for the path itself, ENOTDIR for a parent.
      throw systemError(current === wanted ? 17 /* EEXIST */ : 20 /* ENOTDIR */, 'mkdir', target)
    }
    throw rewritePath(outcome, target)
  }
  for (const directory of missing.reverse()) {
    const outcome = await ring.mkdir(directory, permissions).then(() => null, (error: SystemError) => error)
    if (outcome !== null && outcome.code !== 'EEXIST') throw rewritePath(outcome, target)
    first ??= directory
  }
  return first
}

/** The same system error about `path` (Node reports a recursive mkdir's errors for the path asked). */
function rewritePath(error: SystemError, path: string): SystemError {
  if (error.errno === undefined) return error
  return systemError(-error.errno, error.syscall, path)
}

/** Truncates (or extends) the file at `path` to `len` bytes. */
export async function truncate(path: PathLike, len = 0): Promise<void> {
  const length = Math.max(0, integerOf('len', len, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))
  await withFile(path, nodeFs.constants.O_RDWR, 0o666, (fd, ring) => ring.ftruncate(fd, length))
}

/** A hard link `newPath` to `existingPath`. */
export async function link(existingPath: PathLike, newPath: PathLike): Promise<void> {
  return defaultRing().link(existingPath, newPath)
}

/** A symbolic link at `path` to `target` (`type` matters only on Windows). */
export async function symlink(target: PathLike, path: PathLike, type?: string | null): Promise<void> {
  if (type != null && typeof type !== 'string') throw invalidArgType('type', 'of type string', type)
  return defaultRing().symlink(target, path)
}

/**
 * Copies `src` to `dest` through the ring (reads and writes in parallel chunks), with the source's
 * mode; `COPYFILE_EXCL` fails if `dest` exists. Errors read `copyfile 'src' -> 'dest'`, as Node's.
 * `COPYFILE_FICLONE_FORCE` (a reflink or nothing) goes to Node.
 */
export async function copyFile(src: PathLike, dest: PathLike, mode = 0): Promise<void> {
  const flags = integerOf('mode', mode, 0, 7)
  if (flags & nodeFs.constants.COPYFILE_FICLONE_FORCE) return fsp.copyFile(src, dest, mode)
  const ring = defaultRing()
  const text = (path: PathLike): string => (path instanceof URL ? fileURLToPath(path) : path.toString())
  const asCopyfile = (error: unknown): unknown => {
    const system = error as SystemError
    return system.errno === undefined ? error : systemError(-system.errno, 'copyfile', text(src), text(dest))
  }
  const input = await ring.open(src, 'r').catch((error) => Promise.reject(asCopyfile(error)))
  let output = -1
  try {
    const source = await ring.statx(input, { syscall: 'copyfile' })
    const exclusive = flags & nodeFs.constants.COPYFILE_EXCL ? nodeFs.constants.O_EXCL : 0
    output = await ring.open(dest, nodeFs.constants.O_WRONLY | nodeFs.constants.O_CREAT | exclusive, source.mode & 0o7777)
    const target = await ring.statx(output, { syscall: 'copyfile' })
    // The same file under two names: nothing to copy, and truncating would destroy it.
    if (target.dev === source.dev && target.ino === source.ino) return
    await ring.ftruncate(output, 0)
    const data = await readWhole(ring, input, true)
    await writeData(ring, output, data, 'utf8', true)
    if ((target.mode & 0o7777) !== (source.mode & 0o7777)) await fsp.chmod(dest, source.mode & 0o7777)
  } catch (error) {
    throw asCopyfile(error)
  } finally {
    await ring.close(input)
    if (output !== -1) await ring.close(output)
  }
}

const fs = {
  access,
  appendFile,
  chmod,
  chown,
  constants,
  copyFile,
  cp,
  glob,
  lchmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  open,
  opendir,
  readFile,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
  statfs,
  symlink,
  truncate,
  unlink,
  utimes,
  watch,
  writeFile,
}
export default fs

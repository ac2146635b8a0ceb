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
import { constants as osConstants } from 'node:os'
import { promisify } from 'node:util'
import { systemError, type SystemError } from '../errors.js'
import { openFlags } from '../flags.js'
import { defaultRing, type PathArgument, type Ring } from '../ring.js'
import { FileHandle, ftruncate, ringOf } from './filehandle.js'
import { copyRange, readFileOptions, readOpenFile, writeContents, writeFileRequest, type WriteFileRequest } from './io.js'
import { checkAborted, copyFileMode, parseFileMode, validateBoolean, validatedPath, validateSymlinkType } from './options.js'
import { statsOf } from './stats.js'

export { FileHandle }
export const constants = nodeFs.constants

// What io_uring has no op for: Node's own.
export const { access, chmod, chown, lchmod, lchown, lutimes, utimes, readlink, realpath, mkdtemp, rm, cp, watch, statfs, opendir, readdir } = fsp

/** A name of `node:fs/promises` that only later Node versions have: its type there, else undefined. */
type Later<Name extends string> = typeof fsp extends { [key in Name]: infer Type } ? Type : undefined
const later = fsp as unknown as Record<string, undefined>
/** `fs/promises.glob` (Node 22 and later; undefined before). */
export const glob = later.glob as Later<'glob'>
/** `fs/promises.mkdtempDisposable` (Node 24.4 and later; undefined before). */
export const mkdtempDisposable = later.mkdtempDisposable as Later<'mkdtempDisposable'>

type PathLike = string | Buffer | URL
type StatOptions = { bigint?: boolean }

const { O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY, COPYFILE_EXCL, COPYFILE_FICLONE_FORCE, S_IFMT, S_IFDIR } = nodeFs.constants
const { EEXIST, ENOTDIR } = osConstants.errno
const fchmod = promisify(nodeFs.fchmod)

/** A file opened here: its fd, and the flags it was opened with. */
interface Opened {
  fd: number
  flags: number
}

/** Node's `open` checks, in its order (the path, the flags, the mode), then `openat` through the ring. */
async function openFile(ring: Ring, path: unknown, flags: unknown, mode: unknown): Promise<Opened> {
  const file = validatedPath(path)
  const numericFlags = openFlags(flags)
  const fd = await ring.open(file.bytes, numericFlags, parseFileMode(mode, 'mode', 0o666))
  return { fd, flags: numericFlags }
}

/** Opens `path` (with Node's checks): a `FileHandle` whose ops go through the ring. */
async function openHandle(path: PathLike, flags?: string | number, mode?: number | string): Promise<FileHandle> {
  const ring = defaultRing()
  const { fd } = await openFile(ring, path, flags, mode)
  return new FileHandle(fd, ring)
}
/**
 * `fs/promises.open`: a `FileHandle` whose reads, writes, syncs and close go through the ring (its
 * type is also assignable to Node's `FileHandle`).
 */
export const open = openHandle as (...args: Parameters<typeof fsp.open>) => Promise<FileHandle>

/**
 * An open file given where a path may be: one of ours (read and written through its ring and its
 * reference count), or Node's own FileHandle (its fd, on the default ring). Null for a path.
 */
function handleOf(path: unknown): { ring: Ring; fd: number } | null {
  if (path instanceof FileHandle) return { ring: ringOf(path), fd: path.fd }
  const node = path as { fd?: unknown; close?: unknown } | null
  if (typeof node === 'object' && node !== null && typeof node.fd === 'number' && typeof node.close === 'function' && !(node instanceof URL)) {
    return { ring: defaultRing(), fd: node.fd }
  }
  return null
}

/** Opens `path` as Node's `open` would, runs `body` on it, and closes it. */
async function withOpenFile<T>(path: unknown, flags: unknown, mode: unknown, body: (opened: Opened, ring: Ring) => Promise<T>): Promise<T> {
  const ring = defaultRing()
  const opened = await openFile(ring, path, flags, mode)
  try {
    return await body(opened, ring)
  } finally {
    await ring.close(opened.fd)
  }
}

/** The whole file, as a Buffer or (with an encoding) a string. Large files are read in parallel chunks. */
async function readWholeFile(
  path: PathLike | FileHandle,
  options?: BufferEncoding | { encoding?: BufferEncoding | null; flag?: string | number; signal?: AbortSignal } | null,
): Promise<Buffer | string> {
  const checked = readFileOptions(options)
  // A handle is read as it is, closed or not (Node does not ask), from its current position.
  const handle = handleOf(path)
  if (handle !== null) return readOpenFile(handle.ring, handle.fd, checked, false)
  checkAborted(checked.signal)
  return withOpenFile(path, checked.flag || 'r', 0o666, ({ fd }, ring) => readOpenFile(ring, fd, checked, true))
}
/** `fs/promises.readFile` through the ring (large files in parallel chunks). */
export const readFile = readWholeFile as typeof fsp.readFile

interface WriteFileOptions {
  encoding?: BufferEncoding | null
  mode?: number | string
  flag?: string | number
  signal?: AbortSignal
  flush?: boolean
}

/** Writes `data` (string, bytes, or an (async) iterable of chunks) to the file, replacing it. */
async function writeWholeFile(path: PathLike | FileHandle, data: unknown, options?: BufferEncoding | WriteFileOptions | null): Promise<void> {
  return writeTo(path, writeFileRequest(data, options, 'w'))
}
/** `fs/promises.writeFile` through the ring (large data in parallel chunks into a regular file). */
export const writeFile = writeWholeFile as typeof fsp.writeFile

/** Appends `data` to the file, creating it if needed. */
async function appendToFile(path: PathLike | FileHandle, data: unknown, options?: BufferEncoding | WriteFileOptions | null): Promise<void> {
  return writeTo(path, writeFileRequest(data, options, 'a'))
}
/** `fs/promises.appendFile` through the ring. */
export const appendFile = appendToFile as typeof fsp.appendFile

async function writeTo(path: PathLike | FileHandle, request: WriteFileRequest): Promise<void> {
  // A handle is written at its current position; Node ignores the flag, mode and flush options then.
  const handle = handleOf(path)
  if (handle !== null) return writeContents(handle.ring, handle.fd, request, false)
  checkAborted(request.signal)
  await withOpenFile(path, request.flag, request.mode, async ({ fd, flags }, ring) => {
    // Parallel chunks at explicit offsets only into a file opened without O_APPEND.
    await writeContents(ring, fd, request, (flags & O_APPEND) === 0)
    if (request.flush) await ring.fsync(fd)
  })
}

/** `stat(2)` through the ring: an `fs.Stats` (`BigIntStats` with `bigint: true`). */
async function statPath(path: PathLike, options: StatOptions = { bigint: false }): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
  const file = validatedPath(path)
  return statsOf(defaultRing(), file, options.bigint === true, true, 'stat')
}
/** `fs/promises.stat` through the ring (statx): `fs.Stats`, or `BigIntStats` with `bigint: true`. */
export const stat = statPath as typeof fsp.stat

/** `lstat(2)` through the ring: a symbolic link's own status. */
async function statLink(path: PathLike, options: StatOptions = { bigint: false }): Promise<nodeFs.Stats | nodeFs.BigIntStats> {
  const file = validatedPath(path)
  return statsOf(defaultRing(), file, options.bigint === true, false, 'lstat')
}
/** `fs/promises.lstat` through the ring. */
export const lstat = statLink as typeof fsp.lstat

export async function unlink(path: PathLike): Promise<void> {
  return defaultRing().unlink(validatedPath(path).bytes)
}

export async function rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
  const from = validatedPath(oldPath, 'oldPath')
  const to = validatedPath(newPath, 'newPath')
  return defaultRing().rename(from.bytes, to.bytes)
}

/** `rmdir(2)`; with options (the deprecated `recursive`), Node's own. */
export async function rmdir(path: PathLike, options?: nodeFs.RmDirOptions): Promise<void> {
  if (options !== undefined) return fsp.rmdir(path, options)
  return defaultRing().rmdir(validatedPath(path).bytes)
}

/**
 * `mkdir(2)`; with `recursive`, missing parents too, resolving to the first directory created
 * (undefined if none was), as Node does.
 */
async function makeDirectory(path: PathLike, options?: number | string | { recursive?: boolean; mode?: number | string } | null): Promise<string | undefined> {
  const { recursive = false, mode = 0o777 } = (typeof options === 'number' || typeof options === 'string' ? { mode: options } : options || {}) as {
    recursive?: unknown
    mode?: unknown
  }
  const directory = validatedPath(path)
  validateBoolean(recursive, 'options.recursive')
  const permissions = parseFileMode(mode, 'mode', 0o777)
  const ring = defaultRing()
  if (recursive) return makeDirectories(ring, directory.text, permissions)
  await ring.mkdir(directory.bytes, permissions)
  return undefined
}

/** `fs/promises.mkdir` through the ring, `recursive` included. */
export const mkdir = makeDirectory as typeof fsp.mkdir

/** The system error a promise rejects with (null if it resolves); anything else rethrown. */
function failureOf(promise: Promise<unknown>): Promise<SystemError | null> {
  return promise.then(
    () => null,
    (error: SystemError) => {
      if (error.errno === undefined) throw error
      return error
    },
  )
}

/** What is at `path` (following links): a directory (true), something else (false), or the stat's error. */
function isDirectory(ring: Ring, path: string): Promise<boolean | SystemError> {
  return ring.statx(path).then((stats) => (stats.mode & S_IFMT) === S_IFDIR, (error: SystemError) => error)
}

/**
 * `mkdir -p` as Node's binding does it (MKDirpAsync): mkdir the path; where a parent is missing,
 * push it and make it first, then go on down. A name that exists must be a directory. Errors name
 * the component that failed, as Node's do. Resolves to the first directory made, as it was written
 * in `path` (a trailing slash kept), or undefined.
 */
async function makeDirectories(ring: Ring, path: string, mode: number): Promise<string | undefined> {
  const pending = [path]
  let first: string | undefined
  while (pending.length > 0) {
    const next = pending.pop()!
    const failure = await failureOf(ring.mkdir(next, mode))
    if (failure === null) {
      first ??= next
      continue
    }
    let code = failure.code
    if (code === 'EACCES' || code === 'ENOTDIR' || code === 'EPERM') throw failure
    if (code === 'ENOENT') {
      // The parent as Node cuts it: up to the last '/', the whole path when there is none.
      const slash = next.lastIndexOf('/')
      const parent = slash === -1 ? next : next.slice(0, slash)
      if (parent !== next) {
        pending.push(next, parent)
        continue
      }
      if (pending.length > 0) continue
      code = 'EEXIST'
    }
    // It exists, or cannot be made: what is there decides.
    const found = await isDirectory(ring, next)
    if (code === 'EEXIST' && pending.length > 0) {
      // A parent on the way down.
      if (found === true) continue
      throw systemError(ENOTDIR, 'mkdir', next)
    }
    if (typeof found !== 'boolean') throw systemError(-found.errno, 'mkdir', next)
    if (!found) throw systemError(EEXIST, 'mkdir', next)
    return first
  }
  return first
}

/** Truncates (or extends) the file at `path` to `len` bytes; the file is opened before `len` is checked, as in Node. */
export async function truncate(path: PathLike, len: number = 0): Promise<void> {
  await withOpenFile(path, 'r+', undefined, ({ fd }, ring) => ftruncate(ring, fd, len))
}

/** A hard link `newPath` to `existingPath`. */
export async function link(existingPath: PathLike, newPath: PathLike): Promise<void> {
  const existing = validatedPath(existingPath, 'existingPath')
  const created = validatedPath(newPath, 'newPath')
  return defaultRing().link(existing.bytes, created.bytes)
}

/** A symbolic link at `path` to `target`; `type` matters only on Windows (a non-string is ignored). */
export async function symlink(target: PathLike, path: PathLike, type?: string | null): Promise<void> {
  const held = validatedPath(target, 'target')
  const link = validatedPath(path)
  validateSymlinkType(type)
  return defaultRing().symlink(held.bytes, link.bytes)
}

/**
 * Copies `src` to `dest` through the ring as libuv's copyfile does: `dest` gets the source's mode;
 * `COPYFILE_EXCL` fails if `dest` exists; a copy onto the same file does nothing; a copy that fails
 * once `dest` is open (a directory source fails reading) removes `dest`.
 * Errors read `copyfile 'src' -> 'dest'`, as Node's. `COPYFILE_FICLONE_FORCE` (a reflink or
 * nothing) goes to Node; `COPYFILE_FICLONE` copies.
 */
export async function copyFile(src: PathLike, dest: PathLike, mode?: number): Promise<void> {
  const source = validatedPath(src, 'src')
  const target = validatedPath(dest, 'dest')
  const flags = copyFileMode(mode)
  if (flags & COPYFILE_FICLONE_FORCE) return fsp.copyFile(src, dest, flags)
  const asCopyfile = (error: unknown): unknown => {
    const system = error as SystemError
    return system.errno === undefined ? error : systemError(-system.errno, 'copyfile', source.text, target.text)
  }
  const ring = defaultRing()
  const input = await ring.open(source.bytes, O_RDONLY).catch((error) => Promise.reject(asCopyfile(error)))
  try {
    await copyOpenFile(ring, input, target, (flags & COPYFILE_EXCL) !== 0)
  } catch (error) {
    throw asCopyfile(error)
  } finally {
    await ring.close(input)
  }
}

/** libuv's copyfile once the source is open: make `target`, then copy into it (removing it if that fails). */
async function copyOpenFile(ring: Ring, input: number, target: PathArgument, exclusive: boolean): Promise<void> {
  const source = await ring.statx(input, { syscall: 'copyfile' })
  const output = await ring.open(target.bytes, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : 0), source.mode)
  let copied = false
  try {
    if (!exclusive) {
      const existing = await ring.statx(output, { syscall: 'copyfile' })
      // The same file under two names: nothing to copy, and truncating would destroy it.
      if (existing.dev === source.dev && existing.ino === source.ino) {
        copied = true
        return
      }
      await ring.ftruncate(output, 0)
    }
    await fchmod(output, source.mode & 0o7777) // no io_uring op: Node's fchmod
    await copyRange(ring, input, output, source.size)
    copied = true
  } finally {
    await ring.close(output)
    if (!copied) await ring.unlink(target.bytes).catch(() => {})
  }
}

/** The default export: every name of this Node's `node:fs/promises`, ours where we have one. */
const fs: typeof fsp = {
  ...fsp,
  access,
  appendFile,
  chmod,
  chown,
  constants,
  copyFile,
  cp,
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

/**
 * Errors with the shapes Node gives its own: system errors with `errno`, `code`, `syscall`, `path`
 * and `dest` (as `fs` and `net` throw them), argument errors with `ERR_*` codes, and `AbortError`.
 * @packageDocumentation
 */
import { constants } from 'node:os'
import { getSystemErrorMap, inspect } from 'node:util'

const systemErrors = getSystemErrorMap()
/** Names libuv does not know (ETIME, EBADMSG, ...), from the platform's errno table. */
const errnoNames = new Map(Object.entries(constants.errno).map(([name, errno]) => [errno, name]))

/** A system error as Node's `fs` and `net` produce it. */
export interface SystemError extends Error {
  errno: number
  code: string
  syscall: string
  path?: string
  dest?: string
}

/**
 * The error Node would throw for `errno` (positive, as the kernel gives it) from `syscall`:
 * `ENOENT: no such file or directory, open '/x'`, with `errno` negative as libuv reports it.
 */
export function systemError(errno: number, syscall: string, path?: string, dest?: string): SystemError {
  const [code, description] = systemErrors.get(-errno) ?? [errnoNames.get(errno) ?? `Unknown system error ${errno}`, `error ${errno}`]
  let message = `${code}: ${description}, ${syscall}`
  if (path !== undefined) message += ` '${path}'`
  if (dest !== undefined) message += ` -> '${dest}'`
  const error = new Error(message) as SystemError
  error.errno = -errno
  error.code = code
  error.syscall = syscall
  if (path !== undefined) error.path = path
  if (dest !== undefined) error.dest = dest
  return error
}

/** Errors with a Node `ERR_*` code: `TypeError [ERR_INVALID_ARG_TYPE]: ...`. */
export interface CodedError extends Error {
  code: string
}

function coded<E extends Error>(error: E, code: string): E & CodedError {
  const withCode = error as E & CodedError
  withCode.code = code
  // Node shows the code in the name while the stack is captured: `TypeError [ERR_X]: message`.
  const name = error.name
  withCode.name = `${name} [${code}]`
  void withCode.stack
  withCode.name = name
  return withCode
}

function describe(value: unknown): string {
  if (value == null) return ` Received ${value}`
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = value.constructor?.name
    return name ? ` Received an instance of ${name}` : ' Received an object'
  }
  let shown = String(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  if (typeof value === 'string') shown = `'${shown}'`
  return ` Received type ${typeof value} (${shown})`
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & CodedError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}.${describe(actual)}`), 'ERR_INVALID_ARG_TYPE')
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError & CodedError {
  // As Node shows it: strings quoted, control characters escaped ('a\x00b').
  let shown = inspect(value)
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`
  return coded(new TypeError(`The argument '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE')
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError & CodedError {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`), 'ERR_OUT_OF_RANGE')
}

export function invalidState(message: string): Error & CodedError {
  return coded(new Error(`Invalid state: ${message}`), 'ERR_INVALID_STATE')
}

/** What an aborted op rejects with, as in Node (`name` 'AbortError', `code` 'ABORT_ERR'). */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR'
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AbortError'
  }
}

/** A network error as Node's `net` makes it: `connect ECONNREFUSED 127.0.0.1:80`. */
export interface NetError extends SystemError {
  address?: string
  port?: number
}

/**
 * The error Node's `net` would give for `errno` from `syscall`: with an address, as
 * `connect ECONNREFUSED 127.0.0.1:80` (`listen` adds the description, as Node does).
 */
export function netError(errno: number, syscall: string, address?: string, port?: number): NetError {
  const [code, description] = systemErrors.get(-errno) ?? [errnoNames.get(errno) ?? `Unknown system error ${errno}`, `error ${errno}`]
  let message = syscall === 'listen' ? `${syscall} ${code}: ${description}` : `${syscall} ${code}`
  if (address !== undefined) message += port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`
  const error = new Error(message) as NetError
  error.errno = -errno
  error.code = code
  error.syscall = syscall
  if (address !== undefined) error.address = address
  if (port !== undefined && port > 0) error.port = port
  return error
}

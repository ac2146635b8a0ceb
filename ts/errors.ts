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

/** `error` with Node's `code`, shown in the stack's first line as Node shows it. */
export function withCode<E extends Error>(error: E, code: string): E & CodedError {
  const coded = error as E & CodedError
  coded.code = code
  // Node shows the code in the name while the stack is captured: `TypeError [ERR_X]: message`.
  const name = error.name
  coded.name = `${name} [${code}]`
  void coded.stack
  coded.name = name
  return coded
}

/** How Node's argument errors show the value they got (its `determineSpecificType`). */
function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  switch (typeof value) {
    case 'bigint':
      return `type bigint (${value}n)`
    case 'number':
      return Object.is(value, -0) ? 'type number (-0)' : `type number (${value})`
    case 'boolean':
    case 'symbol':
      return `type ${typeof value} (${String(value)})`
    case 'function':
      return `function ${value.name}`
    case 'object':
      if (value.constructor && 'name' in value.constructor) return `an instance of ${value.constructor.name}`
      return inspect(value, { depth: -1 })
    default: {
      const text = String(value)
      const shown = text.length > 28 ? `${text.slice(0, 25)}...` : text
      return shown.includes("'") ? `type string (${JSON.stringify(shown)})` : `type string ('${shown}')`
    }
  }
}

/** Type names Node writes in lower case ('object' only when no class is named beside it). */
const primitiveTypes = new Set(['string', 'function', 'number', 'object', 'Function', 'Object', 'boolean', 'bigint', 'symbol'])

/** 'a', 'a or b', 'a, b, or c', as Node joins the names in a message. */
function listOf(names: string[]): string {
  if (names.length <= 2) return names.join(' or ')
  return `${names.slice(0, -1).join(', ')}, or ${names[names.length - 1]}`
}

/** What Node's ERR_INVALID_ARG_TYPE says is expected, from its list of type and class names. */
function expectedOf(expected: readonly string[]): string {
  const types: string[] = []
  const classes: string[] = []
  const other: string[] = []
  for (const name of expected) {
    if (primitiveTypes.has(name)) types.push(name.toLowerCase())
    else if (/^[A-Z][a-zA-Z0-9]*$/.test(name)) classes.push(name)
    else other.push(name)
  }
  // With classes named too, 'object' reads as the class Object.
  if (classes.length > 0 && types.includes('object')) {
    types.splice(types.indexOf('object'), 1)
    classes.push('Object')
  }
  const parts: string[] = []
  if (types.length > 0) parts.push(`${types.length > 1 ? 'one of type' : 'of type'} ${listOf(types)}`)
  if (classes.length > 0) parts.push(`an instance of ${listOf(classes)}`)
  if (other.length > 1) parts.push(`one of ${listOf(other)}`)
  else if (other.length === 1) parts.push(other[0].toLowerCase() === other[0] ? other[0] : `an ${other[0]}`)
  return parts.join(' or ')
}

/** `The "name" argument`, or `The "a.b" property` for an option. */
function subject(name: string): string {
  return `The "${name}" ${name.includes('.') ? 'property' : 'argument'}`
}

/**
 * Node's ERR_INVALID_ARG_TYPE. `expected`: Node's list of type and class names
 * (`['string', 'Buffer', 'URL']` reads "of type string or an instance of Buffer or URL"), or the
 * phrase itself ('of type number').
 */
export function invalidArgType(name: string, expected: string | readonly string[], actual: unknown): TypeError & CodedError {
  const wanted = typeof expected === 'string' ? expected : expectedOf(expected)
  return withCode(new TypeError(`${subject(name)} must be ${wanted}. Received ${describe(actual)}`), 'ERR_INVALID_ARG_TYPE')
}

export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): TypeError & CodedError {
  // As Node shows it: strings quoted, control characters escaped ('a\x00b').
  let shown = inspect(value)
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`
  const kind = name.includes('.') ? 'property' : 'argument'
  return withCode(new TypeError(`The ${kind} '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE')
}

/** 1_000_000 for 1000000, as Node writes big integers in range errors. */
function withSeparators(digits: string): string {
  const start = digits.startsWith('-') ? 1 : 0
  let grouped = ''
  let end = digits.length
  for (; end >= start + 4; end -= 3) grouped = `_${digits.slice(end - 3, end)}${grouped}`
  return `${digits.slice(0, end)}${grouped}`
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError & CodedError {
  let shown: string
  if (Number.isInteger(actual) && Math.abs(actual as number) > 2 ** 32) shown = withSeparators(String(actual))
  else if (typeof actual === 'bigint') shown = `${actual > 2n ** 32n || actual < -(2n ** 32n) ? withSeparators(String(actual)) : String(actual)}n`
  else shown = inspect(actual)
  return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), 'ERR_OUT_OF_RANGE')
}

export function unknownEncoding(encoding: unknown): TypeError & CodedError {
  return withCode(new TypeError(`Unknown encoding: ${String(encoding)}`), 'ERR_UNKNOWN_ENCODING')
}

export function invalidState(message: string): Error & CodedError {
  return withCode(new Error(`Invalid state: ${message}`), 'ERR_INVALID_STATE')
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

/**
 * Argument checks shared by `rio-uring/fs`: each is one of Node's own (lib/internal/validators.js,
 * lib/internal/fs/utils.js, and the checks Node's C++ binding makes), with its codes and messages,
 * so that a bad argument fails here exactly where and how it fails in `node:fs/promises`. Nothing
 * here touches the file system.
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer'
import { AbortError, invalidArgType, invalidArgValue, outOfRange, withCode } from '../errors.js'
import { pathOf, type PathArgument } from '../ring.js'

export interface EncodingOption {
  encoding?: BufferEncoding | 'buffer' | null
}

export interface SignalOption {
  signal?: AbortSignal
}

/**
 * `options` as Node's `getOptions` reads it: nothing (or a function) gives `defaults`, a string is
 * the encoding, an object is taken as it is (the defaults are not merged into it). Checks the
 * encoding ('buffer' passes: the caller decides) and the signal.
 */
export function optionsOf<T extends object>(options: unknown, defaults: T): T & EncodingOption & SignalOption {
  if (options == null || typeof options === 'function') return defaults
  let chosen: EncodingOption & SignalOption
  if (typeof options === 'string') chosen = { ...defaults, encoding: options as BufferEncoding }
  else if (typeof options === 'object') chosen = options
  else throw invalidArgType('options', ['string', 'Object'], options)
  if (chosen.encoding !== 'buffer') assertEncoding(chosen.encoding)
  if (chosen.signal !== undefined) validateAbortSignal(chosen.signal, 'options.signal')
  return chosen as T & EncodingOption & SignalOption
}

/** A set encoding must be one Buffer knows ('' and null are no encoding). */
function assertEncoding(encoding: unknown): void {
  if (encoding && !Buffer.isEncoding(encoding as string)) throw invalidArgValue('encoding', encoding, 'is invalid encoding')
}

function validateAbortSignal(signal: unknown, name: string): void {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType(name, ['AbortSignal'], signal)
  }
}

/** Throws an AbortError if `signal` was aborted, as Node's `checkAborted`. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason })
}

/** `value` as a path argument named `name`, checked as Node's `getValidatedPath`. */
export function validatedPath(value: unknown, name = 'path'): PathArgument {
  const path = pathOf(name, value)
  if (path instanceof Error) throw path
  return path
}

/** A file mode: a number, or an octal string; nullish is `fallback` (Node's `parseFileMode`). */
export function parseFileMode(value: unknown, name: string, fallback: number): number {
  value ??= fallback
  if (typeof value === 'string') {
    if (!/^[0-7]+$/.test(value)) throw invalidArgValue(name, value, 'must be a 32-bit unsigned integer or an octal string')
    value = parseInt(value, 8)
  }
  return validateInteger(value, name, 0, 0xffffffff)
}

/** An integer in [min, max], as Node's `validateInteger` checks it. */
export function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw invalidArgType(name, ['number'], value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
  return value
}

export function validateBoolean(value: unknown, name: string): void {
  if (typeof value !== 'boolean') throw invalidArgType(name, ['boolean'], value)
}

/** An object, or null (Node's `validateObject` with `kValidateObjectAllowNullable`). */
export function validateNullableObject(value: unknown, name: string): void {
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) throw invalidArgType(name, ['Object'], value)
}

export function validateBuffer(value: unknown, name = 'buffer'): asserts value is ArrayBufferView {
  if (!ArrayBuffer.isView(value)) throw invalidArgType(name, ['Buffer', 'TypedArray', 'DataView'], value)
}

/** An array of ArrayBufferViews (Node's `validateBufferArray`). */
export function validateBufferArray(value: unknown, name = 'buffers'): asserts value is ArrayBufferView[] {
  if (!Array.isArray(value) || !value.every((buffer) => ArrayBuffer.isView(buffer))) throw invalidArgType(name, ['ArrayBufferView[]'], value)
}

export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, ['string'], value)
}

/** Data to write that is not bytes must be a string (Node's `validateStringAfterArrayBufferView`). */
export function validateStringData(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, ['string', 'Buffer', 'TypedArray', 'DataView'], value)
}

/** `offset` and `length` of a read into a buffer of `bufferLength` bytes (Node's `validateOffsetLengthRead`). */
export function validateOffsetLengthRead(offset: number, length: number, bufferLength: number): void {
  if (offset < 0) throw outOfRange('offset', '>= 0', offset)
  if (length < 0) throw outOfRange('length', '>= 0', length)
  if (offset + length > bufferLength) throw outOfRange('length', `<= ${bufferLength - offset}`, length)
}

/** `offset` and `length` of a write from a buffer of `byteLength` bytes (Node's `validateOffsetLengthWrite`). */
export function validateOffsetLengthWrite(offset: number, length: number, byteLength: number): void {
  if (offset > byteLength) throw outOfRange('offset', `<= ${byteLength}`, offset)
  if (length > byteLength - offset) throw outOfRange('length', `<= ${byteLength - offset}`, length)
  if (length < 0) throw outOfRange('length', '>= 0', length)
  validateInteger(length, 'length', 0, 2 ** 31 - 1)
}

/**
 * The file offset of a read or write: a safe integer >= 0, else -1 for the current position.
 * Node's binding does the same with anything else it gets (a bigint, a fraction, a negative
 * number, null), so those read and write at the current position.
 */
export function filePosition(position: unknown): number {
  return Number.isSafeInteger(position) && (position as number) >= 0 ? (position as number) : -1
}

/**
 * The encoding of a string `FileHandle.write` writes: Node checks only that hex has an even
 * length; its binding writes in utf8 what it does not know as a string encoding ('buffer' too).
 */
export function writeEncodingOf(data: string, encoding: unknown): BufferEncoding {
  if (typeof encoding !== 'string') return 'utf8'
  if (encoding.toLowerCase() === 'hex' && data.length % 2 !== 0) throw invalidArgValue('encoding', encoding, `is invalid for data of length ${data.length}`)
  return Buffer.isEncoding(encoding) ? encoding : 'utf8'
}

/** `copyFile`'s mode, checked as Node's binding checks it (`GetValidFileMode`): a fraction is truncated. */
export function copyFileMode(mode: unknown): number {
  if (mode == null) return 0
  if (typeof mode !== 'number') throw withCode(new TypeError('mode must be int32 or null/undefined'), 'ERR_INVALID_ARG_TYPE')
  if (!Number.isFinite(mode)) throw withCode(new RangeError('mode is out of range'), 'ERR_OUT_OF_RANGE')
  const truncated = Math.trunc(mode)
  if (truncated < 0 || truncated > 7) throw withCode(new RangeError('mode is out of range: >= 0 && <= 7'), 'ERR_OUT_OF_RANGE')
  return truncated
}

/** `symlink`'s type: only a string counts, and it must be one Node knows (it matters only on Windows). */
export function validateSymlinkType(type: unknown): void {
  if (typeof type === 'string' && type !== 'dir' && type !== 'file' && type !== 'junction') {
    throw withCode(new Error(`Symlink type must be one of "dir", "file", or "junction". Received "${type}"`), 'ERR_FS_INVALID_SYMLINK_TYPE')
  }
}

/** A Uint8Array over the bytes of any ArrayBufferView. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
}

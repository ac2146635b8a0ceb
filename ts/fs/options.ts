/**
 * Argument checks shared by `rio-uring/fs`, with Node's messages and codes: option objects,
 * encodings, modes, offsets and lengths.
 * @packageDocumentation
 */
import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js'

export interface EncodingOption {
  encoding?: BufferEncoding | null
}

/** `options` as Node reads it: a string is the encoding, undefined the defaults. */
export function optionsOf<T extends object>(options: unknown, defaults: T): T {
  if (options == null || typeof options === 'function') return { ...defaults }
  if (typeof options === 'string') return { ...defaults, encoding: checkEncoding(options) }
  if (typeof options !== 'object') throw invalidArgType('options', 'one of type string or an instance of Object', options)
  const merged = { ...defaults, ...options } as T & EncodingOption
  if (merged.encoding != null && (merged.encoding as string) !== 'buffer') checkEncoding(merged.encoding)
  return merged
}

export function checkEncoding(encoding: unknown): BufferEncoding {
  if (typeof encoding === 'string' && Buffer.isEncoding(encoding)) return encoding
  throw invalidArgValue('encoding', encoding, 'is invalid encoding')
}

/** A file mode: a number, or an octal string as Node accepts it. */
export function modeOf(value: unknown, fallback: number, name = 'mode'): number {
  if (value == null) return fallback
  if (typeof value === 'string') {
    if (!/^[0-7]+$/.test(value)) throw invalidArgValue(name, value, 'must be a 32-bit unsigned integer or an octal string')
    return parseInt(value, 8)
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value)
  return value
}

/** An integer in [min, max], as Node's validateInteger checks it. */
export function integerOf(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
  return value
}

/** A read or write position: null, -1 or undefined for the current position. */
export function positionOf(value: unknown): number | bigint | null {
  if (value == null) return null
  if (typeof value === 'bigint') return value
  if (typeof value !== 'number') throw invalidArgType('position', 'of type number or bigint', value)
  // Node reads any other non-integer position as "the current position".
  return Number.isInteger(value) ? value : null
}

/** A Uint8Array over any ArrayBufferView, or Node's argument error. */
export function viewOf(name: string, value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', value)
}

/** Throws an AbortError if `signal` was aborted, as Node's `checkAborted`. */
export function checkAborted(signal: AbortSignal | undefined, AbortErrorType: new (message?: string, options?: { cause?: unknown }) => Error): void {
  if (signal?.aborted) throw new AbortErrorType(undefined, { cause: signal.reason })
}

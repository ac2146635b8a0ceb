/**
 * rio-uring: io_uring for Node.js.
 *
 * ```ts
 * import { Ring, Ordering } from 'rio-uring'
 * const ring = new Ring()
 * const n = await ring.readAt(fd, buffer, 0)
 * ```
 *
 * Subpaths: `rio-uring/fs` (a drop-in for `node:fs/promises`), `rio-uring/net` (TCP),
 * `rio-uring/log` (a durable, group-committed log).
 * @packageDocumentation
 */
export { Ring, Ordering, defaultRing } from './ring.js'
export type { OpOptions, RingOptions, RingStats, Statx, Accepted } from './ring.js'
export { AbortError, systemError } from './errors.js'
export type { SystemError } from './errors.js'

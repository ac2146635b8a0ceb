/**
 * `rio-uring/net`: TCP over io_uring. Accept, connect, send and receive are ring ops; socket
 * set-up (socket, bind, listen, options) is a synchronous syscall in the addon.
 *
 * ```ts
 * import { listen, connect } from 'rio-uring/net'
 * const server = await listen({ host: '127.0.0.1', port: 0 })
 * for await (const connection of server) {
 *   for await (const chunk of connection) await connection.send(chunk)   // echo
 * }
 * ```
 *
 * Sockets live on this thread's network ring (4096 entries, so thousands of connections can each
 * wait in a receive), or on the `ring` given. Closing a connection or a server shuts its socket
 * down first, which ends every receive and accept in flight on it; nothing is left pending.
 * `toDuplex` makes a connection a Node `Duplex` (with the `net.Socket` methods `node:http`
 * uses), and `serveHttp` serves a `node:http` server over rio connections.
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer'
import { lookup } from 'node:dns/promises'
import { Duplex } from 'node:stream'
import { isIP } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import * as native from './binding.js'
import { invalidArgType, netError, outOfRange, systemError, type SystemError } from './errors.js'
import { asyncDispose } from './dispose.js'
import { byteLengthOf, bytesOf, ITERATION_DONE, Ring, settled, type InFlight } from './ring.js'

export interface ListenOptions {
  /** An IP address or a name to resolve; default '::' (all addresses, IPv4 too) or '0.0.0.0'. */
  host?: string
  /** 0 (the default) picks a free port: read it from `server.port`. */
  port?: number
  /** The kernel's accept queue length (default 511, as Node). */
  backlog?: number
  /** The ring to run on (default: this thread's network ring). */
  ring?: Ring
  /** Accepted connections read through multishot receives (see `ConnectOptions`). */
  multishotReceive?: boolean
}

export interface ConnectOptions {
  /** An IP address or a name to resolve (default 'localhost'). */
  host?: string
  port: number
  /** TCP_NODELAY (default true: a request-response protocol wants its small writes sent now). */
  noDelay?: boolean
  ring?: Ring
  /**
   * Experimental: iteration and `toDuplex` read through one multishot receive into ring-owned
   * provided buffers (io_uring on Linux 6.0+) instead of a receive per chunk. Off by default: with
   * it forced on, the test suite under heavy load on a 2-core machine still failed once in 15
   * runs, not yet explained.
   */
  multishotReceive?: boolean
}

/** An address as `net.Socket#address()` gives it. */
export interface AddressInfo {
  address: string
  port: number
  family: string
}

/** Accepts kept in flight on a listening socket, so a burst of connections is taken at once
 * (where the ring has no multishot accept, which takes them all with one op). */
const ACCEPTS_IN_FLIGHT = 16
/** Connections a multishot accept queues for `accept()` before it pauses. */
const ACCEPTED_HIGH_WATER = 256
/** Bytes a multishot receive queues for the reader before it pauses, and where it resumes. */
const RECEIVED_HIGH_WATER = 1 << 20
const RECEIVED_LOW_WATER = 256 << 10
/** How long closing a connection waits for a send in flight (a peer that reads nothing holds it). */
const CLOSE_GRACE_MS = 50
/** Bytes each receive of an iteration or a Duplex asks for. */
const RECEIVE_BYTES = 64 << 10
const EINVAL = 22
const EPIPE = 32
/** Op options that shape failures as Node's net errors. */
const READ = Object.freeze({ netSyscall: 'read' })
/** What `readChunk` resolves to at the end of the stream. */
const END_OF_STREAM = Buffer.alloc(0)
const WRITE = Object.freeze({ netSyscall: 'write' })

let threadRing: Ring | null = null
const noop = (): void => {}

/** This thread's network ring: large, so that many connections can each have a receive waiting. */
export function networkRing(): Ring {
  if (threadRing === null || threadRing.closed) threadRing = new Ring({ entries: 4096 })
  return threadRing
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = isIP(host)
  if (family !== 0) return { address: host, family: family as 4 | 6 }
  const found = await lookup(host)
  return { address: found.address, family: found.family === 6 ? 6 : 4 }
}

/** A port as node:net checks it: an integer in [0, 65536), else RangeError [ERR_SOCKET_BAD_PORT]. */
function checkPort(port: unknown, name: string): number {
  if (typeof port === 'number' && Number.isInteger(port) && port >= 0 && port < 65536) return port
  const shown = typeof port === 'string' ? `'${port}'` : String(port)
  const error = new RangeError(`${name} should be >= 0 and < 65536. Received type ${typeof port} (${shown}).`) as RangeError & { code: string }
  error.code = 'ERR_SOCKET_BAD_PORT'
  throw error
}

function closeQuietly(ring: Ring, fd: number): Promise<void> {
  return ring.close(fd).catch(() => undefined)
}

/** A listening socket. Iterate it for connections; `close()` ends the iteration. */
export class Server implements AsyncIterable<Connection> {
  readonly #ring: Ring
  #fd: number
  readonly #local: AddressInfo
  /** Accept ops in flight on the listener. */
  #accepting = 0
  /** Connections (or errors) accepted and not yet handed out, in the order the kernel gave them. */
  readonly #accepted: (Connection | Error)[] = []
  /** Callers of `accept()` waiting for the next connection. */
  readonly #takers: { resolve: (connection: Connection | null) => void; reject: (error: Error) => void }[] = []
  /** Settles once every accept op has completed (for close). */
  #drained: (() => void) | null = null
  /** Stops the multishot accept in flight (to pause it), if one is. */
  #multishot: AbortController | null = null
  #closing: Promise<void> | null = null

  readonly #multishotReceive: boolean

  /** @internal */
  constructor(ring: Ring, fd: number, local: AddressInfo, multishotReceive = false) {
    this.#ring = ring
    this.#fd = fd
    this.#local = local
    this.#multishotReceive = multishotReceive
  }

  /** The port listened on (the one the kernel picked, for port 0). */
  get port(): number {
    return this.#local.port
  }

  address(): AddressInfo {
    return { ...this.#local }
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== null
  }

  /**
   * The next connection, or null once the server is closed. Connections are handed out in the
   * order the kernel accepted them, whichever of the accepts in flight took each.
   */
  accept(): Promise<Connection | null> {
    const ready = this.#accepted.shift()
    if (ready instanceof Error) return Promise.reject(ready)
    if (ready !== undefined) return Promise.resolve(ready)
    if (this.#closing !== null) return Promise.resolve(null)
    if (this.#ring.multishot) this.#acceptMultishot()
    else while (this.#accepting < ACCEPTS_IN_FLIGHT) this.#acceptOne()
    return new Promise((resolve, reject) => this.#takers.push({ resolve, reject }))
  }

  /**
   * One op takes every connection (IORING_ACCEPT_MULTISHOT) until close, an error, or too many
   * wait unclaimed (it pauses then; the next `accept()` starts it again).
   */
  #acceptMultishot(): void {
    if (this.#multishot !== null) return
    const controller = new AbortController()
    this.#multishot = controller
    this.#accepting++
    const accepted = (fd: number): void => {
      if (this.#closing !== null) {
        void closeQuietly(this.#ring, fd)
        return
      }
      native.socketSetNoDelay(fd, true)
      this.#hand(new Connection(this.#ring, fd, native.socketAddress(fd, true) ?? {}, this.#multishotReceive))
      if (this.#accepted.length >= ACCEPTED_HIGH_WATER && this.#multishot === controller) controller.abort()
    }
    this.#ring.acceptMultishot(this.#fd, accepted, { signal: controller.signal }).then(
      () => this.#multishotEnded(controller, null),
      (error: SystemError) => this.#multishotEnded(controller, error),
    )
  }

  #multishotEnded(controller: AbortController, error: SystemError | null): void {
    if (this.#multishot === controller) this.#multishot = null
    // Paused (aborted), or a listener shut down by close() (EINVAL): not the caller's error.
    const paused = controller.signal.aborted
    if (error !== null && !paused && this.#closing === null && error.errno !== -EINVAL) this.#hand(netError(-error.errno, 'accept'))
    this.#settled()
    // Resume at once for callers already waiting.
    if (paused && this.#closing === null && this.#takers.length > 0) this.#acceptMultishot()
  }

  #acceptOne(): void {
    this.#accepting++
    this.#ring.accept(this.#fd).then(
      (accepted) => {
        if (this.#closing !== null) {
          void closeQuietly(this.#ring, accepted.fd)
          return this.#settled()
        }
        // Request-response protocols want small writes sent at once (Node's servers do the same).
        native.socketSetNoDelay(accepted.fd, true)
        this.#accepting--
        this.#hand(new Connection(this.#ring, accepted.fd, accepted, this.#multishotReceive))
        // Keep the accepts in flight while someone waits.
        if (this.#takers.length > 0) this.#acceptOne()
      },
      (error: SystemError) => {
        // A listener shut down by close() fails its pending accepts with EINVAL.
        if (this.#closing === null && error.errno !== -EINVAL) {
          this.#accepting--
          this.#hand(netError(-error.errno, 'accept'))
        } else {
          this.#settled()
        }
      },
    )
  }

  /** Hands a connection (or error) to the first waiting caller, or keeps it for the next one. */
  #hand(item: Connection | Error): void {
    const taker = this.#takers.shift()
    if (taker === undefined) this.#accepted.push(item)
    else if (item instanceof Error) taker.reject(item)
    else taker.resolve(item)
  }

  /** An accept op ended without a connection to hand out. */
  #settled(): void {
    this.#accepting--
    if (this.#accepting === 0 && this.#drained !== null) this.#drained()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Connection> {
    for (;;) {
      const connection = await this.accept()
      if (connection === null) return
      yield connection
    }
  }

  /**
   * Stops listening: accepts in flight end (the iteration finishes), connections accepted but not
   * yet handed out are closed, then the listening socket closes.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closing = (async () => {
      const fd = this.#fd
      const drained = this.#accepting === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#drained = resolve))
      this.#multishot?.abort()
      await this.#ring.shutdown(fd, 'both').catch(() => undefined)
      for (const taker of this.#takers.splice(0)) taker.resolve(null)
      await drained
      for (const item of this.#accepted.splice(0)) if (!(item instanceof Error)) await item.close()
      await closeQuietly(this.#ring, fd)
      this.#fd = -1
    })()
    return this.#closing
  }

  async [asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** A TCP connection. Iterate it for the chunks it receives. */
export class Connection implements AsyncIterable<Buffer> {
  readonly #ring: Ring
  #fd: number
  #closing: Promise<void> | null = null
  /** The last send made: one made while sends are in flight starts only after it settles, so
   * the bytes of two never interleave. */
  #lastSend: Promise<number> | null = null
  /** Sends made and not yet settled (the ring counts each one's end, before its promise settles). */
  readonly #sends: InFlight = { count: 0, stopped: false }
  /** Set by `shutdown('write' | 'both')`: later sends are refused, as the kernel would refuse them. */
  #sendingShut = false
  /** What a multishot receive got and the reader has not taken yet (see `readChunk`). */
  #inbox: Inbox | null = null
  /** Stops the multishot receive in flight (to pause it), if one is. */
  #receiving: AbortController | null = null
  readonly #multishotReceive: boolean
  readonly remoteAddress?: string
  readonly remotePort?: number
  readonly remoteFamily?: string

  /** @internal */
  constructor(ring: Ring, fd: number, peer: { address?: string; port?: number; family?: string }, multishotReceive = false) {
    this.#ring = ring
    this.#fd = fd
    this.#multishotReceive = multishotReceive
    this.remoteAddress = peer.address
    this.remotePort = peer.port
    this.remoteFamily = peer.family
  }

  /** The socket's fd; -1 once closed. */
  get fd(): number {
    return this.#fd
  }

  /** The local end's address. */
  address(): AddressInfo | null {
    return this.#fd === -1 ? null : native.socketAddress(this.#fd, false)
  }

  get localAddress(): string | undefined {
    return this.address()?.address
  }

  get localPort(): number | undefined {
    return this.address()?.port
  }

  #closedError(syscall: string): Error {
    const error = new Error('Socket is closed') as Error & { code: string; syscall: string }
    error.code = 'ERR_SOCKET_CLOSED'
    error.syscall = syscall
    return error
  }

  /** Receives into `buffer`; resolves to the byte count, 0 once the peer has shut down its side. */
  recv(buffer: ArrayBufferView): Promise<number> {
    if (this.#fd === -1) return Promise.reject(this.#closedError('read'))
    const view = bytesOf('buffer', buffer)
    if (view instanceof Error) return Promise.reject(view)
    return this.#ring.netRecv(this.#fd, view, READ)
  }

  /**
   * Sends all of `buffer` (a partial send is continued); resolves to its length. Sends made while
   * one is in flight go after it, in call order: the bytes of two sends never interleave.
   */
  send(buffer: ArrayBufferView | string): Promise<number> {
    if (this.#fd === -1 || this.#closing !== null) return Promise.reject(this.#closedError('write'))
    if (this.#sendingShut) return Promise.reject(netError(EPIPE, 'write'))
    const view = bytesOf('buffer', typeof buffer === 'string' ? Buffer.from(buffer) : buffer)
    if (view instanceof Error) return Promise.reject(view)
    const length = byteLengthOf(view)
    // Straight to the ring when nothing is in flight, else after the send before it.
    const sending = this.#sends.count++ === 0 ? this.#ring.netSendAll(this.#fd, view, length, WRITE, this.#sends) : this.#sendAfterLast(view, length)
    this.#lastSend = sending
    return sending
  }

  /**
   * A send made while others are in flight: it starts once the one before it has settled, whether
   * that one succeeded or not (its own caller sees its rejection). The staging copy is made then,
   * so the data is what the buffer holds then (its length as now: one detached or shrunk
   * meanwhile rejects). A method of its own, so that `send` holds no closure: one would make
   * every send allocate the context it captures.
   */
  #sendAfterLast(view: Uint8Array, length: number): Promise<number> {
    const start = (): Promise<number> => {
      if (this.#fd !== -1) return this.#ring.netSendAll(this.#fd, view, length, WRITE, this.#sends)
      settled(this.#sends, -1 /* not sent */)
      return Promise.reject(this.#closedError('write'))
    }
    return this.#lastSend!.then(start, start)
  }

  /**
   * Shuts down one side of the socket or both. 'write' (the default) ends the sending side (the
   * peer's receives then see the end of the stream) after the sends already made, as a
   * `net.Socket`'s writes go out before its `end()`: shut down at once, the rest of a send still
   * in flight would be refused (EPIPE) and its bytes lost. So it waits as long as the peer takes
   * those bytes; `close()` ends the wait (it shuts the socket down itself) and this resolves.
   * From the call on, sends reject with EPIPE, whatever the shutdown's outcome. 'read' ends the
   * receiving side at once (pending receives see the end of the stream); 'both' does that at
   * once and the sending side as 'write' does.
   */
  shutdown(how: 'read' | 'write' | 'both' = 'write'): Promise<void> {
    if (this.#fd === -1) return Promise.reject(this.#closedError('shutdown'))
    if (how !== 'write' && how !== 'both') return this.#shutdownNow(how)
    this.#sendingShut = true
    if (this.#sends.count === 0) return this.#shutdownNow(how)
    // A close() begun meanwhile shuts both sides down and frees the fd: nothing left to do.
    const shutDown = (): Promise<void> => (this.#closing !== null ? this.#closing : this.#shutdownNow('write'))
    const writing = this.#lastSend!.then(shutDown, shutDown)
    return how === 'write' ? writing : Promise.all([this.#shutdownNow('read'), writing]).then(noop)
  }

  #shutdownNow(how: 'read' | 'write' | 'both'): Promise<void> {
    return this.#ring.shutdown(this.#fd, how).catch((error: SystemError) => {
      // Already shut down, or the peer is gone: the side is closed either way.
      if (error.code !== 'ENOTCONN') throw error
    })
  }

  /** Sets TCP_NODELAY. */
  setNoDelay(enable = true): void {
    if (this.#fd !== -1) native.socketSetNoDelay(this.#fd, enable)
  }

  /** SO_SNDBUF in bytes, as the kernel reports it (Linux doubles the size set: it counts its bookkeeping). */
  getSendBufferSize(): number {
    return this.#bufferSize(true)
  }

  /** SO_RCVBUF in bytes, as the kernel reports it (Linux doubles the size set). */
  getRecvBufferSize(): number {
    return this.#bufferSize(false)
  }

  /** Sets SO_SNDBUF, within the kernel's limits (`net.core.wmem_max`; Linux doubles it). */
  setSendBufferSize(size: number): void {
    this.#setBufferSize(true, size)
  }

  /** Sets SO_RCVBUF, within the kernel's limits (`net.core.rmem_max`; Linux doubles it). */
  setRecvBufferSize(size: number): void {
    this.#setBufferSize(false, size)
  }

  #bufferSize(send: boolean): number {
    if (this.#fd === -1) throw this.#closedError('getsockopt')
    const size = native.socketBufferSize(this.#fd, send)
    if (size < 0) throw systemError(-size, 'getsockopt')
    return size
  }

  #setBufferSize(send: boolean, size: number): void {
    if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size)
    // As Node's validateInt32 words it.
    if (!Number.isInteger(size)) throw outOfRange('size', 'an integer', size)
    if (size < 1 || size > 0x7fffffff) throw outOfRange('size', '>= 1 && <= 2147483647', size)
    if (this.#fd === -1) throw this.#closedError('setsockopt')
    const result = native.socketSetBufferSize(this.#fd, send, size)
    if (result < 0) throw systemError(-result, 'setsockopt')
  }

  /**
   * The next chunk received, or an empty one at the end of the stream (the end as a recv reports
   * it, so a single-shot receive's promise is handed over as it is): what iteration and
   * `toDuplex` read with. With `multishotReceive` where the ring has it, one op receives chunk
   * after chunk into ring-owned buffers (pausing while more than RECEIVED_HIGH_WATER bytes wait
   * unread); otherwise each call is a `recvChunk` of up to 64 KiB. Read a connection this way or
   * with `recv(buffer)`, not both at once.
   * @internal
   */
  readChunk(): Promise<Buffer> {
    if (this.#fd === -1) return Promise.resolve(END_OF_STREAM)
    if (!this.#readsMultishot()) return this.#ring.netRecvChunk(this.#fd, RECEIVE_BYTES, READ)
    return this.#takeReceived(null)
  }

  /**
   * The next chunk the multishot receive got (waiting for one if none has come), handed over as
   * `handOver` says: to `readChunk` (`calls` null), or to an iterator's call counted in `calls`,
   * which then gets its iterator result directly rather than through a `then` on the chunk.
   */
  #takeReceived(calls: InFlight | null): Promise<any> {
    const inbox = (this.#inbox ??= { chunks: [], bytes: 0, ended: false, error: null, waiter: null })
    const chunk = inbox.chunks.shift()
    if (chunk !== undefined) {
      inbox.bytes -= chunk.length
      if (this.#receiving === null && !inbox.ended && inbox.bytes < RECEIVED_LOW_WATER) this.#receive(inbox)
      return Promise.resolve(handOver(calls, chunk))
    }
    if (inbox.error !== null) return Promise.reject(handOverError(calls, inbox))
    if (inbox.ended) return Promise.resolve(handOver(calls, END_OF_STREAM))
    if (this.#receiving === null) this.#receive(inbox)
    return new Promise((resolve, reject) => (inbox.waiter = { resolve, reject, calls }))
  }

  /** Whether `readChunk` reads through a multishot receive (asked for, and the ring has it). */
  #readsMultishot(): boolean {
    return this.#multishotReceive && this.#ring.multishot
  }

  #receive(inbox: Inbox): void {
    const controller = new AbortController()
    this.#receiving = controller
    const received = (chunk: Buffer): void => {
      const waiter = inbox.waiter
      if (waiter !== null) {
        inbox.waiter = null
        waiter.resolve(handOver(waiter.calls, chunk))
        return
      }
      inbox.chunks.push(chunk)
      inbox.bytes += chunk.length
      if (inbox.bytes > RECEIVED_HIGH_WATER && this.#receiving === controller) controller.abort()
    }
    const ended = (error: Error | null): void => {
      if (this.#receiving === controller) this.#receiving = null
      if (controller.signal.aborted && error !== null && this.#closing === null) {
        // Paused; a reader already waiting for more starts it again.
        if (inbox.waiter !== null) this.#receive(inbox)
        return
      }
      inbox.ended = true
      // A connection closed under its reader ends its stream; anything else is the reader's error.
      if (error !== null && this.#closing === null) inbox.error = error
      const waiter = inbox.waiter
      inbox.waiter = null
      if (waiter !== null && inbox.chunks.length === 0) {
        if (inbox.error !== null) waiter.reject(handOverError(waiter.calls, inbox))
        else waiter.resolve(handOver(waiter.calls, END_OF_STREAM))
      }
    }
    this.#ring.recvMultishot(this.#fd, received, { signal: controller.signal, ...READ }).then(() => ended(null), ended)
  }

  /**
   * The chunks received, until the end of the stream. Written out rather than as an async
   * generator, whose `await` and `yield` cost two more microtask hops per chunk (an echo server's
   * whole round trip is a few of them), with a generator's semantics: calls queue, so a `next()`
   * made while another is pending reads after it, and `return()` or `throw()` end the iteration
   * after the reads asked for before them.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    /**
     * Calls not yet settled (`count`), and whether the iteration is over (`stopped`): a receive's
     * end or error, `return()` or `throw()`. The ring counts single-shot receives down and stops
     * the iteration at their end or error, before their promise settles; `handOver` does the same
     * for chunks of a multishot receive.
     */
    const calls: InFlight = { count: 0, stopped: false }
    /** The last call's promise: the next call runs after it. */
    let last: Promise<IteratorResult<Buffer>> = Promise.resolve(ITERATION_DONE)
    const queue = (call: () => Promise<IteratorResult<Buffer>>): Promise<IteratorResult<Buffer>> => {
      last = calls.count++ === 0 ? call() : last.then(call, call)
      return last
    }
    const end = (error?: { thrown: unknown }): Promise<IteratorResult<Buffer>> => {
      settled(calls, 0 /* ended: stops the iteration */)
      return error === undefined ? Promise.resolve(ITERATION_DONE) : Promise.reject(error.thrown)
    }
    const read = (): Promise<IteratorResult<Buffer>> => {
      if (calls.stopped) {
        settled(calls, 0 /* the iteration is over */)
        return Promise.resolve(ITERATION_DONE)
      }
      if (this.#fd === -1) return Promise.resolve(iterationResult(calls, END_OF_STREAM))
      // Either way the call's promise resolves to the iterator result itself: no hop through `then`.
      if (this.#readsMultishot()) return this.#takeReceived(calls)
      return this.#ring.netRecvResult(this.#fd, RECEIVE_BYTES, READ, calls)
    }
    const iterator: AsyncIterableIterator<Buffer> = {
      next: () => queue(read),
      return: () => queue(() => end()),
      throw: (thrown: unknown) => queue(() => end({ thrown })),
      [Symbol.asyncIterator]: () => iterator,
    }
    return iterator
  }

  /**
   * Shuts the socket down (ending receives and sends in flight) and closes it. Idempotent. A send
   * already made gets a moment (CLOSE_GRACE_MS) to reach the kernel first, as a `net.Socket`'s
   * write usually has by the time it is destroyed (`node:http` writes a 408 and destroys at once).
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    const fd = this.#fd
    const sending = this.#sends.count > 0 ? this.#lastSend : null
    this.#closing = (async () => {
      if (fd === -1) return
      if (sending !== null) await Promise.race([sending.then(noop, noop), new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())])
      // Stopped first, so the receive is never armed again on a number the close frees.
      this.#receiving?.abort()
      await this.#ring.shutdown(fd, 'both').catch(() => undefined)
      this.#fd = -1
      await closeQuietly(this.#ring, fd)
    })()
    return this.#closing
  }

  async [asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** Chunks a multishot receive got and the reader has not taken, and how its stream ended. */
interface Inbox {
  chunks: Buffer[]
  bytes: number
  ended: boolean
  error: Error | null
  /** A reader waiting for the next chunk (see `#takeReceived`). */
  waiter: { resolve: (received: Buffer | IteratorResult<Buffer, undefined>) => void; reject: (error: Error) => void; calls: InFlight | null } | null
}

/**
 * A chunk received (empty at the end of the stream) as its reader takes it: the chunk itself for
 * `readChunk`, or for an iterator's call (`calls`) an iterator result, with the call counted as
 * settled and the iteration stopped at the end.
 */
function handOver(calls: InFlight | null, chunk: Buffer): Buffer | IteratorResult<Buffer, undefined> {
  return calls === null ? chunk : iterationResult(calls, chunk)
}

/** `chunk` as the result of an iterator's call counted in `calls`. */
function iterationResult(calls: InFlight, chunk: Buffer): IteratorResult<Buffer, undefined> {
  settled(calls, chunk.length)
  return chunk.length !== 0 ? { value: chunk, done: false } : ITERATION_DONE
}

/**
 * The error that ended a multishot receive as its reader takes it: an iterator's call is settled
 * and its iteration stopped. It goes to that one reader: as a socket reports an error once, the
 * reads after it (a new iterator, `readChunk`) see the end of the stream, as with single-shot
 * receives.
 */
function handOverError(calls: InFlight | null, inbox: Inbox): Error {
  const error = inbox.error!
  inbox.error = null
  if (calls !== null) settled(calls, -1 /* failed: stops the iteration */)
  return error
}

/** Listens on `host`:`port`. */
export async function listen(options: ListenOptions = {}): Promise<Server> {
  const ring = options.ring ?? networkRing()
  const port = checkPort(options.port ?? 0, 'options.port')
  const backlog = options.backlog ?? 511
  if (!Number.isInteger(backlog) || backlog < 0) throw outOfRange('backlog', '>= 0', backlog)
  const hosts = options.host === undefined ? ['::', '0.0.0.0'] : [options.host]
  let lastError: Error | null = null
  for (const host of hosts) {
    const { address, family } = await resolveHost(host)
    const fd = native.socketCreate(family, false)
    if (fd < 0) {
      lastError = netError(-fd, 'listen', address, port)
      continue
    }
    const bound = native.socketBind(fd, address, port, backlog)
    if (bound < 0) {
      await closeQuietly(ring, fd)
      lastError = netError(-bound, 'listen', address, port)
      // An unspecified host falls back to IPv4 when IPv6 is unavailable.
      if (options.host === undefined && (lastError as SystemError).code === 'EAFNOSUPPORT') continue
      throw lastError
    }
    const local = native.socketAddress(fd, false) ?? { address, port, family: family === 6 ? 'IPv6' : 'IPv4' }
    return new Server(ring, fd, local, options.multishotReceive === true)
  }
  throw lastError ?? new Error('listen: no address to listen on')
}

/** Connects to `host`:`port`. */
export async function connect(options: ConnectOptions): Promise<Connection> {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  const ring = options.ring ?? networkRing()
  const port = checkPort(options.port, 'Port')
  const { address, family } = await resolveHost(options.host ?? 'localhost')
  const fd = native.socketCreate(family, false)
  if (fd < 0) throw netError(-fd, 'connect', address, port)
  try {
    await ring.connect(fd, port, address)
  } catch (error) {
    await closeQuietly(ring, fd)
    const system = error as SystemError
    throw system.errno === undefined ? error : netError(-system.errno, 'connect', address, port)
  }
  if (options.noDelay !== false) native.socketSetNoDelay(fd, true)
  return new Connection(ring, fd, { address, port, family: family === 6 ? 'IPv6' : 'IPv4' }, options.multishotReceive === true)
}

/**
 * A connection as a Node `Duplex`, with the parts of `net.Socket` that `node:http` and most
 * stream users need (`remoteAddress`, `setTimeout`, `setNoDelay`, `destroySoon`, ...). Reads
 * happen only while the readable side wants data, so a slow consumer slows the peer down.
 */
export class RioSocket extends Duplex {
  readonly connection: Connection
  #timeout: NodeJS.Timeout | null = null
  #timeoutMs = 0

  constructor(connection: Connection) {
    super({ allowHalfOpen: false })
    this.connection = connection
  }

  get remoteAddress(): string | undefined {
    return this.connection.remoteAddress
  }

  get remotePort(): number | undefined {
    return this.connection.remotePort
  }

  get remoteFamily(): string | undefined {
    return this.connection.remoteFamily
  }

  get localAddress(): string | undefined {
    return this.connection.localAddress
  }

  get localPort(): number | undefined {
    return this.connection.localPort
  }

  address(): AddressInfo | object {
    return this.connection.address() ?? {}
  }

  override _read(): void {
    this.connection.readChunk().then(
      (chunk) => {
        this.#touch()
        this.push(chunk.length === 0 ? null : chunk)
      },
      (error: Error) => this.destroy(error),
    )
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#touch()
    this.connection.send(chunk).then(() => callback(), callback)
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#touch()
    this.connection.send(Buffer.concat(chunks.map(({ chunk }) => chunk))).then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.connection.shutdown('write').then(() => callback(), callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.setTimeout(0)
    this.connection.close().then(() => callback(error), () => callback(error))
  }

  /** Emits 'timeout' after `ms` without activity (0 turns it off), as `net.Socket#setTimeout`. */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms
    if (callback) this.once('timeout', callback)
    this.#touch()
    return this
  }

  #touch(): void {
    if (this.#timeout !== null) clearTimeout(this.#timeout)
    this.#timeout = null
    if (this.#timeoutMs > 0 && !this.destroyed) {
      this.#timeout = setTimeout(() => this.emit('timeout'), this.#timeoutMs)
      this.#timeout.unref()
    }
  }

  setNoDelay(noDelay = true): this {
    this.connection.setNoDelay(noDelay)
    return this
  }

  setKeepAlive(): this {
    return this
  }

  ref(): this {
    return this
  }

  unref(): this {
    return this
  }

  /** Ends the writable side, then destroys once everything was written (as `net.Socket`). */
  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }
}

/** `connection` as a Node `Duplex` (see `RioSocket`). */
export function toDuplex(connection: Connection): RioSocket {
  return new RioSocket(connection)
}

/** How long the accept loop of `serveHttp` pauses after a failed accept (EMFILE, ENFILE, ...). */
const ACCEPT_RETRY_MS = 100

/**
 * Serves a `node:http` (or any `net.Server`-like) server over rio connections: listens with rio
 * and hands each connection to `server.emit('connection', ...)`. Resolves to the rio server.
 *
 * The http server then behaves as if it listened itself: it gets 'listening' (so Node enforces
 * `headersTimeout` and `requestTimeout` and `closeIdleConnections()` works), `address()` gives
 * the rio address, and `close()` stops the rio listener too. A failed accept (out of fds, say) is
 * emitted as 'error' when the server has a listener for it, and accepting goes on, as Node's
 * servers do.
 */
export async function serveHttp(server: HttpServer, options: ListenOptions = {}): Promise<Server> {
  const listener = await listen(options)
  const httpClose = server.close
  Object.assign(server, {
    address: () => listener.address(),
    close(this: HttpServer, callback?: (error?: Error) => void) {
      if (callback) this.once('close', () => callback())
      // Node's close ends idle connections and its timers, then emits 'close' (it has no handle
      // of its own to close): once the rio listener has stopped, as a node:net server would.
      void listener.close().then(() => httpClose.call(this))
      return this
    },
  })
  void (async () => {
    while (!listener.closed) {
      try {
        const connection = await listener.accept()
        if (connection === null) return
        server.emit('connection', toDuplex(connection))
      } catch (error) {
        if (server.listenerCount('error') > 0) server.emit('error', error)
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS))
      }
    }
  })()
  server.emit('listening')
  return listener
}

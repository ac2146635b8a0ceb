// Shared set-up of the rio-uring/net tests: echo servers (rio and node:net) that close when the
// test ends, clients that run seeded round trips and check their own bytes, exact reads on both
// kinds of socket, and waits that fail fast instead of hanging. Not a spec file: ava only runs
// `*.spec.mjs`.
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { Ring } from 'rio-uring'
import { listen, connect } from 'rio-uring/net'
import { pattern } from './support.mjs'

export const HOST = '127.0.0.1'
export const MiB = 1024 * 1024
/** The message sizes of one connection's round trips: a byte, a small message, one of several segments. */
const ROUND_BYTES = [1, 517, 3 * 8192 + 5]

/**
 * `byteCount` random bytes, for the big transfers: support's pattern() takes half a second per
 * 64 MiB, and a test generating one holds up every other test's timers in this file meanwhile.
 */
export function payload(byteCount) {
  return randomBytes(byteCount)
}

/** Rejects with an error naming `what` if `promise` has not settled within `ms` (a hang fails fast). */
export async function within(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The next connection `server` accepts; fails after `ms` instead of hanging. */
export function acceptWithin(server, ms = 10_000) {
  return within(server.accept(), ms, 'accept()')
}

/**
 * Waits for `promise` to settle, at most `ms`, and never rejects: for teardowns, so a close that
 * hangs (a bug the test itself reports) does not also hang the whole file.
 */
export async function settledWithin(promise, ms = 5000) {
  await within(promise, ms, 'teardown').catch(() => undefined)
}

/**
 * A ring of the test's own (so a stall in it cannot hold up other tests), closed when the test
 * ends, without waiting forever: a stalled test should report its failure, not hang the file.
 */
export function ownRing(t, options) {
  const ring = new Ring(options)
  t.teardown(() => settledWithin(ring.close()))
  return ring
}

/** Whether `promise` is still pending after `ms`. */
export async function stillPending(promise, ms) {
  let settled = false
  promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await delay(ms)
  return !settled
}

/** What `promise` settles to: its value, or the error it rejects with. */
export function outcomeOf(promise) {
  return promise.then(
    (value) => value,
    (error) => error,
  )
}

/** Receives exactly `byteCount` bytes from a rio connection (throws if the stream ends first). */
export async function recvExactly(connection, byteCount) {
  const buffer = Buffer.alloc(byteCount)
  for (let received = 0; received < byteCount; ) {
    const n = await connection.recv(buffer.subarray(received))
    if (n === 0) throw new Error(`the stream ended after ${received} of ${byteCount} bytes`)
    received += n
  }
  return buffer
}

/** Everything a rio connection receives until the peer shuts down its side. */
export async function recvToEnd(connection) {
  const chunks = []
  for await (const chunk of connection) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Reads exactly `byteCount` bytes from a node:net socket (throws if it ends first). */
export async function readExactly(socket, byteCount) {
  for (;;) {
    const chunk = socket.read(byteCount)
    if (chunk !== null) return chunk
    if (socket.readableEnded || socket.destroyed) throw new Error(`the stream ended before ${byteCount} bytes`)
    // One pair of listeners at a time (a race of two once() left a 'close' listener per wait).
    await new Promise((resolve) => {
      const wake = () => {
        socket.off('readable', wake)
        socket.off('close', wake)
        resolve()
      }
      socket.on('readable', wake)
      socket.on('close', wake)
    })
  }
}

/**
 * Everything a node:net socket receives until its peer ends the stream. (Not `for await`: that
 * destroys the socket at the end, and a half-closed socket must still be able to write.)
 */
export async function readToEnd(socket) {
  const chunks = []
  socket.on('data', (chunk) => chunks.push(chunk))
  await Promise.race([once(socket, 'end'), once(socket, 'close')])
  if (!socket.readableEnded) throw new Error('the socket closed before the end of the stream')
  return Buffer.concat(chunks)
}

/** Echoes what `connection` receives until the peer shuts down, then closes it. */
export async function echo(connection) {
  try {
    for await (const chunk of connection) await connection.send(chunk)
  } finally {
    await connection.close()
  }
}

/**
 * A rio echo server on `host` (on `ring`, default the network ring), closed when the test ends.
 * `failures` collects what went wrong in any connection's echo loop, so a test can assert there
 * was nothing; `open()` is how many connections it has not closed yet. Its backlog holds a burst
 * of 1000 connections (as nodeEchoServer's does): past the backlog the kernel drops handshakes and
 * retries them seconds later, and on a loaded machine may give up with a reset, which would test
 * the kernel's overflow handling rather than the echo.
 */
export async function rioEchoServer(t, { host = HOST, ring } = {}) {
  const server = await listen({ host, port: 0, ring, backlog: 2048 })
  const failures = []
  const echoes = new Set()
  const serving = (async () => {
    for await (const connection of server) {
      const echoing = echo(connection).catch((error) => failures.push(error))
      echoes.add(echoing)
      echoing.finally(() => echoes.delete(echoing))
    }
  })().catch((error) => failures.push(error))
  t.teardown(async () => {
    await settledWithin(server.close())
    await settledWithin(Promise.all([serving, ...echoes]))
  })
  return { server, port: server.port, failures, open: () => echoes.size }
}

/** A node:net echo server on `host` (each socket piped to itself), closed when the test ends. */
export async function nodeEchoServer(t, { host = HOST } = {}) {
  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  server.listen({ host, port: 0, backlog: 2048 })
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return { server, port: server.address().port }
}

/**
 * A node:net server that only collects its connections, closed (with them) when the test ends.
 * `nextConnection()` gives them in the order they came, whether they came before the call or after.
 */
export async function nodeServer(t, options = {}) {
  const server = net.createServer(options)
  const sockets = []
  let taken = 0
  server.on('connection', (socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
  })
  server.listen(0, HOST)
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  async function nextConnection() {
    while (sockets.length <= taken) await once(server, 'connection')
    return sockets[taken++]
  }
  return { server, port: server.address().port, nextConnection }
}

/**
 * One rio client's round trips to an echo server, a message of each ROUND_BYTES size made from
 * `seed`, each compared with its echo; then a half-close, and the server's end of the stream.
 */
export async function rioRoundTrips(port, seed, { host = HOST, ring } = {}) {
  const connection = await connect({ host, port, ring })
  try {
    for (const [round, size] of ROUND_BYTES.entries()) {
      const message = pattern(size, seed * 16 + round)
      await connection.send(message)
      const reply = await recvExactly(connection, size)
      if (!reply.equals(message)) throw new Error(`connection ${seed}, round ${round}: the echo differs from what was sent`)
    }
    await connection.shutdown('write')
    const after = await connection.recv(Buffer.alloc(16))
    if (after !== 0) throw new Error(`connection ${seed}: ${after} bytes after the echoes, expected the end of the stream`)
  } finally {
    await connection.close()
  }
}

/** The same round trips from a node:net client. */
export async function nodeRoundTrips(port, seed, { host = HOST } = {}) {
  const socket = net.connect({ host, port })
  await once(socket, 'connect')
  try {
    for (const [round, size] of ROUND_BYTES.entries()) {
      const message = pattern(size, seed * 16 + round)
      socket.write(message)
      const reply = await readExactly(socket, size)
      if (!reply.equals(message)) throw new Error(`connection ${seed}, round ${round}: the echo differs from what was sent`)
    }
    socket.end()
    const after = await readToEnd(socket)
    if (after.length !== 0) throw new Error(`connection ${seed}: ${after.length} bytes after the echoes, expected the end of the stream`)
  } finally {
    socket.destroy()
  }
}

/** A port nothing listens on (one the kernel just handed out and took back). */
export async function closedPort() {
  const server = net.createServer().listen(0, HOST)
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

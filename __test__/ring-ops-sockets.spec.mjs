// Ring's socket ops over real TCP connections on loopback: accept, connect, send, recv, shutdown
// and close, between two raw sockets the ring drives and against node:net peers. Runs on the
// backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import * as native from '../native/index.js'
import { BAD_FD, closeQuietly, connectedPair, connectedToNode, fileWith, listeningSocket, openRing, pattern, rejectionOf, tcpSocket } from './support.mjs'

const MSG_PEEK = 2
const KiB = 1024
const MiB = 1024 * KiB

/** Sends all of `data` with as many sends as it takes. */
async function sendAll(ring, fd, data) {
  for (let sent = 0; sent < data.length; ) {
    const n = await ring.send(fd, data.subarray(sent))
    if (n <= 0) throw new Error(`send returned ${n}`)
    sent += n
  }
}

/** Receives until the peer shuts down; everything received. */
async function recvAll(ring, fd, chunkBytes = 64 * KiB) {
  const chunks = []
  for (;;) {
    const chunk = Buffer.alloc(chunkBytes)
    const n = await ring.recv(fd, chunk)
    if (n === 0) return Buffer.concat(chunks)
    chunks.push(chunk.subarray(0, n))
  }
}

/** Whether `promise` is still pending after `ms`. */
async function stillPending(promise, ms) {
  let settled = false
  promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await new Promise((resolve) => setTimeout(resolve, ms))
  return !settled
}

test('accept and connect pair two raw sockets; accept resolves to the fd and the peer address', async (t) => {
  const ring = openRing(t)
  const { server, client, accepted } = await connectedPair(t, ring)
  t.true(Number.isInteger(server) && server > 2)
  const clientAddress = native.socketAddress(client, false)
  t.deepEqual({ address: accepted.address, port: accepted.port, family: accepted.family }, clientAddress)
  t.deepEqual(native.socketAddress(server, true), clientAddress, 'the accepted fd is connected to the client')
  t.is(accepted.family, 'IPv4')
  t.is(accepted.address, '127.0.0.1')
})

test('accept and connect work over IPv6', async (t) => {
  const ring = openRing(t)
  const listener = native.socketCreate(6, false)
  t.true(listener >= 0)
  t.teardown(() => closeQuietly(listener))
  if (native.socketBind(listener, '::1', 0, 16) !== 0) return t.pass('no IPv6 loopback here')
  const port = native.socketAddress(listener, false).port
  const client = native.socketCreate(6, false)
  t.teardown(() => closeQuietly(client))
  const [accepted] = await Promise.all([ring.accept(listener), ring.connect(client, port, '::1')])
  t.teardown(() => closeQuietly(accepted.fd))
  t.is(accepted.family, 'IPv6')
  t.is(accepted.address, '::1')
  t.is(accepted.port, native.socketAddress(client, false).port)
  t.is(await ring.send(client, Buffer.from('v6')), 2)
  const buffer = Buffer.alloc(8)
  t.is(await ring.recv(accepted.fd, buffer), 2)
  t.is(buffer.subarray(0, 2).toString(), 'v6')
})

test('send and recv carry bytes both ways; recv resolves to the count and fills only that much', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  t.is(await ring.send(client, Buffer.from('ping')), 4)
  const buffer = Buffer.alloc(100, 0xee)
  t.is(await ring.recv(server, buffer), 4)
  t.is(buffer.subarray(0, 4).toString(), 'ping')
  t.true(buffer.subarray(4).every((byte) => byte === 0xee))
  t.is(await ring.send(server, new Uint8Array([0x70, 0x6f, 0x6e, 0x67])), 4)
  t.is(await ring.recv(client, buffer), 4)
  t.is(buffer.subarray(0, 4).toString(), 'pong')
})

test('recv waits for data: it stays pending until the peer sends', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  const buffer = Buffer.alloc(16)
  const received = ring.recv(server, buffer)
  t.true(await stillPending(received, 100), 'recv settled with nothing sent')
  await ring.send(client, Buffer.from('late'))
  t.is(await received, 4)
  t.is(buffer.subarray(0, 4).toString(), 'late')
})

test('recv resolves to 0 after the peer shuts down its sending side, once the data is drained', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  await ring.send(client, Buffer.from('last words'))
  t.is(await ring.shutdown(client, 'write'), undefined)
  const buffer = Buffer.alloc(100)
  t.is(await ring.recv(server, buffer), 10)
  t.is(buffer.subarray(0, 10).toString(), 'last words')
  t.is(await ring.recv(server, buffer), 0)
  t.is(await ring.recv(server, buffer), 0)
  // The other direction is still open.
  await ring.send(server, Buffer.from('reply'))
  t.is(await ring.recv(client, buffer), 5)
})

test("shutdown's default direction is 'write', and 'both' ends both directions", async (t) => {
  const ring = openRing(t)
  const first = await connectedPair(t, ring)
  await ring.shutdown(first.client)
  t.is(await ring.recv(first.server, Buffer.alloc(4)), 0)

  const second = await connectedPair(t, ring)
  await ring.shutdown(second.client, 'both')
  t.is(await ring.recv(second.server, Buffer.alloc(4)), 0)
  t.is(await ring.recv(second.client, Buffer.alloc(4)), 0, 'reading a socket shut down for reading gives end of stream')
})

test('a pending recv resolves to 0 when the peer shuts down', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  const received = ring.recv(server, Buffer.alloc(16))
  t.true(await stillPending(received, 50))
  await ring.shutdown(client, 'write')
  t.is(await received, 0)
})

test('recv with MSG_PEEK leaves the data for the next recv', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  await ring.send(client, Buffer.from('peekaboo'))
  const peeked = Buffer.alloc(4)
  t.is(await ring.recv(server, peeked, { flags: MSG_PEEK }), 4)
  t.is(peeked.toString(), 'peek')
  const buffer = Buffer.alloc(8)
  let got = 0
  while (got < 8) got += await ring.recv(server, buffer.subarray(got))
  t.is(buffer.toString(), 'peekaboo')
})

test('4 MiB sent in sends larger than a staging slot arrive identical and in order', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  const data = pattern(4 * MiB, 9)
  const [, received] = await Promise.all([
    sendAll(ring, client, data).then(() => ring.shutdown(client, 'write')),
    recvAll(ring, server, 256 * KiB),
  ])
  t.is(received.length, data.length)
  t.true(received.equals(data), 'the bytes received differ from the bytes sent')
})

test('recvChunk resolves to a new Buffer of exactly the bytes received, and an empty one at end of stream', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  await ring.send(client, Buffer.from('hello'))
  const chunk = await ring.recvChunk(server, 64 * KiB)
  t.true(Buffer.isBuffer(chunk))
  t.is(chunk.toString(), 'hello')
  t.is(chunk.length, 5, 'the chunk is sized to what came, not to maxBytes')
  await ring.send(client, Buffer.from('0123456789'))
  t.is((await ring.recvChunk(server, 4)).toString(), '0123', 'at most maxBytes')
  t.is((await ring.recvChunk(server, 100)).toString(), '456789')
  await ring.shutdown(client, 'write')
  t.is((await ring.recvChunk(server, 100)).length, 0)
})

test('recvChunk past a staging slot (1 MiB at a time) carries 4 MiB identical and in order', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  const data = pattern(4 * MiB, 11)
  const receiving = (async () => {
    const chunks = []
    for (;;) {
      const chunk = await ring.recvChunk(server, MiB)
      if (chunk.length === 0) return Buffer.concat(chunks)
      t.true(chunk.length <= MiB)
      chunks.push(chunk)
    }
  })()
  await sendAll(ring, client, data)
  await ring.shutdown(client, 'write')
  t.true((await receiving).equals(data), 'the bytes received differ from the bytes sent')
})

test('recvChunk rejects a bad maxBytes with Node-style errors and a bad fd with EBADF', async (t) => {
  const ring = openRing(t)
  for (const bad of [0, -1, 1.5, 16 * MiB + 1, Number.NaN]) {
    t.is((await rejectionOf(t, ring.recvChunk(0, bad))).code, 'ERR_OUT_OF_RANGE', `maxBytes ${bad}`)
  }
  t.is((await rejectionOf(t, ring.recvChunk(0, '64'))).code, 'ERR_INVALID_ARG_TYPE')
  const error = await rejectionOf(t, ring.recvChunk(BAD_FD, 16))
  t.is(error.code, 'EBADF')
  t.is(error.syscall, 'recv')
})

test('closing an accepted socket through the ring ends the stream for the peer', async (t) => {
  const ring = openRing(t)
  const listener = listeningSocket(t)
  const client = tcpSocket(t)
  // Not closed at teardown: the test closes it, and its number may then belong to another test's fd.
  const [accepted] = await Promise.all([ring.accept(listener.fd), ring.connect(client, listener.port)])
  await ring.send(accepted.fd, Buffer.from('bye'))
  t.is(await ring.close(accepted.fd), undefined)
  const buffer = Buffer.alloc(8)
  t.is(await ring.recv(client, buffer), 3)
  t.is(await ring.recv(client, buffer), 0)
})

test('many accepts in flight each take one of many connections', async (t) => {
  const ring = openRing(t)
  const listener = listeningSocket(t)
  const count = 20
  const clients = Array.from({ length: count }, () => tcpSocket(t))
  const acceptances = Array.from({ length: count }, () => ring.accept(listener.fd))
  await Promise.all(clients.map((fd) => ring.connect(fd, listener.port)))
  const accepted = await Promise.all(acceptances)
  for (const { fd } of accepted) t.teardown(() => closeQuietly(fd))
  const peers = accepted.map(({ port }) => port).sort()
  const locals = clients.map((fd) => native.socketAddress(fd, false).port).sort()
  t.deepEqual(peers, locals)
  t.is(new Set(accepted.map(({ fd }) => fd)).size, count)
})

// ---- against node:net ---------------------------------------------------------------------------

test('a ring-connected socket talks to a node:net server', async (t) => {
  const ring = openRing(t)
  const { fd, peer } = await connectedToNode(t, ring)
  const arrived = once(peer, 'data')
  t.is(await ring.send(fd, Buffer.from('hello node')), 10)
  t.is((await arrived)[0].toString(), 'hello node')
  peer.write('hello ring')
  const buffer = Buffer.alloc(64)
  let got = 0
  while (got < 10) got += await ring.recv(fd, buffer.subarray(got))
  t.is(buffer.subarray(0, got).toString(), 'hello ring')
  peer.end()
  t.is(await ring.recv(fd, buffer), 0, "recv gives 0 after the node:net peer's end()")
})

test('a node:net client connects to a socket the ring accepts on', async (t) => {
  const ring = openRing(t)
  const listener = listeningSocket(t)
  const client = net.connect(listener.port, '127.0.0.1')
  t.teardown(() => client.destroy())
  // Listen before awaiting the accept: the client may see its connection first.
  const connected = once(client, 'connect')
  const accepted = await ring.accept(listener.fd)
  t.teardown(() => closeQuietly(accepted.fd))
  await connected
  t.is(accepted.port, client.localPort)
  client.write('from node')
  const buffer = Buffer.alloc(64)
  let got = 0
  while (got < 9) got += await ring.recv(accepted.fd, buffer.subarray(got))
  t.is(buffer.subarray(0, got).toString(), 'from node')
  const chunks = []
  client.on('data', (chunk) => chunks.push(chunk))
  const ended = once(client, 'end')
  await sendAll(ring, accepted.fd, Buffer.from('from the ring'))
  await ring.shutdown(accepted.fd, 'write')
  await ended
  t.is(Buffer.concat(chunks).toString(), 'from the ring')
})

// ---- failures -----------------------------------------------------------------------------------

test('connect to a port nobody listens on rejects with ECONNREFUSED', async (t) => {
  const ring = openRing(t)
  // A bound socket that does not listen holds the port, so nothing else can take it meanwhile.
  const holder = tcpSocket(t)
  t.is(native.socketBind(holder, '127.0.0.1', 0, -1), 0)
  const { port } = native.socketAddress(holder, false)
  const error = await rejectionOf(t, ring.connect(tcpSocket(t), port, '127.0.0.1'))
  t.true(error instanceof Error)
  t.is(error.code, 'ECONNREFUSED')
  t.is(error.errno, -111)
  t.is(error.syscall, 'connect')
  t.is(error.message, 'ECONNREFUSED: connection refused, connect')
})

test('recv and send on a regular file reject with ENOTSOCK', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.from('not a socket'))
  const received = await rejectionOf(t, ring.recv(fd, Buffer.alloc(4)))
  t.is(received.code, 'ENOTSOCK')
  t.is(received.syscall, 'recv')
  const sent = await rejectionOf(t, ring.send(fd, Buffer.from('x')))
  t.is(sent.code, 'ENOTSOCK')
  t.is(sent.syscall, 'send')
})

test('accept on a socket that is not listening rejects with EINVAL', async (t) => {
  const ring = openRing(t)
  const error = await rejectionOf(t, ring.accept(tcpSocket(t)))
  t.is(error.code, 'EINVAL')
  t.is(error.syscall, 'accept')
})

test('send on a socket that is not connected rejects with EPIPE (no SIGPIPE kills the process)', async (t) => {
  const ring = openRing(t)
  const error = await rejectionOf(t, ring.send(tcpSocket(t), Buffer.from('nobody')))
  t.true(['EPIPE', 'ENOTCONN'].includes(error.code), error.code)
  t.is(error.syscall, 'send')
})

test('send after the peer closed rejects instead of raising SIGPIPE', async (t) => {
  const ring = openRing(t)
  const listener = listeningSocket(t)
  const client = tcpSocket(t)
  // Not closed again at teardown: by then its number may belong to another test's fd.
  const [{ fd: server }] = await Promise.all([ring.accept(listener.fd), ring.connect(client, listener.port)])
  fs.closeSync(server)
  // The first send may still be accepted; the peer answers it with a reset.
  let error
  for (let i = 0; i < 50 && error === undefined; i++) {
    error = await ring.send(client, Buffer.alloc(1024)).then(
      () => undefined,
      (rejection) => rejection,
    )
    if (error === undefined) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.truthy(error, 'every send succeeded')
  t.true(['EPIPE', 'ECONNRESET'].includes(error.code), error.code)
})

test('socket ops on a bad fd reject with EBADF', async (t) => {
  const ring = openRing(t)
  for (const promise of [ring.accept(BAD_FD), ring.connect(BAD_FD, 80), ring.send(BAD_FD, Buffer.from('x')), ring.recv(BAD_FD, Buffer.alloc(1)), ring.shutdown(BAD_FD)]) {
    const error = await rejectionOf(t, promise)
    t.is(error.code, 'EBADF')
    t.is(error.errno, -9)
  }
})

// ---- multishot ----------------------------------------------------------------------------------

test('multishot accept takes every connection with one op, and recv multishot hands over every byte in order', async (t) => {
  const ring = openRing(t)
  const listener = listeningSocket(t)
  if (!ring.multishot) {
    t.is(ring.backend, 'threads', 'io_uring on Linux 6.0+ has multishot ops')
    const error = await rejectionOf(t, ring.acceptMultishot(listener.fd, () => {}))
    t.is(error.code, 'EINVAL')
    return
  }
  const accepted = []
  const stopAccepting = new AbortController()
  const accepting = ring.acceptMultishot(listener.fd, (fd) => accepted.push(fd), { signal: stopAccepting.signal })
  const clients = Array.from({ length: 3 }, () => net.connect(listener.port, '127.0.0.1'))
  t.teardown(() => clients.forEach((client) => client.destroy()))
  await Promise.all(clients.map((client) => once(client, 'connect')))
  while (accepted.length < 3) await new Promise((resolve) => setTimeout(resolve, 5))
  t.teardown(() => accepted.forEach(closeQuietly))
  t.is(accepted.length, 3)
  stopAccepting.abort()
  t.is((await rejectionOf(t, accepting)).name, 'AbortError')

  const chunks = []
  const receiving = ring.recvMultishot(accepted[0], (chunk) => chunks.push(chunk))
  const sent = pattern(3 * MiB + 17)
  clients[0].end(sent)
  await receiving
  t.true(Buffer.concat(chunks).equals(sent), 'every byte, in order, through the provided buffers')
  t.true(chunks.every((chunk) => Buffer.isBuffer(chunk) && chunk.length > 0))
})

test('a multishot receive stopped by its signal hands over what it got and leaves the rest in the socket', async (t) => {
  const ring = openRing(t)
  if (!ring.multishot) return t.pass('no multishot ops on this backend')
  const { fd, peer } = await connectedToNode(t, ring)
  const chunks = []
  const stop = new AbortController()
  const receiving = ring.recvMultishot(fd, (chunk) => chunks.push(chunk), { signal: stop.signal })
  peer.write('first')
  while (chunks.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  stop.abort()
  t.is((await rejectionOf(t, receiving)).name, 'AbortError')
  await ring.nop()
  peer.write('second')
  const buffer = Buffer.alloc(16)
  const n = await ring.recv(fd, buffer)
  t.is(Buffer.concat(chunks).toString(), 'first')
  t.is(buffer.toString('utf8', 0, n), 'second', 'the stopped op took nothing more')
})

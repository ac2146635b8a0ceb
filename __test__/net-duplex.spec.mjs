// rio-uring/net's Node stream side: toDuplex (a connection as a `Duplex`, with backpressure) and
// serveHttp (a node:http server over rio connections), driven by pipeline(), node:http's client
// with keep-alive and fetch. Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import http from 'node:http'
import net from 'node:net'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { listen, connect, serveHttp, toDuplex, RioSocket } from 'rio-uring/net'
import { rejectionOf } from './support.mjs'
import { HOST, MiB, acceptWithin, nodeServer, payload, rioEchoServer, settledWithin, within } from './net-support.mjs'

/** `data` as a stream of chunks of `chunkBytes` (an odd size, so chunks straddle segments). */
function chunksOf(data, chunkBytes) {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += chunkBytes) yield data.subarray(at, at + chunkBytes)
    })(),
    { objectMode: false },
  )
}

/** A Writable that keeps what it is given; `bytes()` is all of it. */
function collector() {
  const chunks = []
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  sink.bytes = () => Buffer.concat(chunks)
  return sink
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex')
}

test('pipeline() streams 64 MiB into a toDuplex socket and the echo back out of it, byte-identical', async (t) => {
  const { port, failures } = await rioEchoServer(t)
  const socket = toDuplex(await connect({ host: HOST, port }))
  t.teardown(() => socket.destroy())
  t.true(socket instanceof RioSocket)
  const data = payload(64 * MiB)
  const sink = collector()
  await within(Promise.all([pipeline(chunksOf(data, MiB - 3), socket), pipeline(socket, sink)]), 60_000, 'the pipelines')
  const echoed = sink.bytes()
  t.is(echoed.length, data.length)
  t.true(echoed.equals(data), 'the echo differs from what was sent')
  await within(once(socket, 'close'), 5000, 'the socket closing once both sides ended')
  t.is(socket.connection.fd, -1, 'the connection is closed with the stream')
  t.deepEqual(failures, [])
})

test('a RioSocket has the net.Socket properties node:http reads', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const [client, accepted] = await Promise.all([connect({ host: HOST, port: server.port }), acceptWithin(server)])
  const socket = toDuplex(accepted)
  t.teardown(() => socket.destroy())
  t.teardown(() => settledWithin(client.close()))
  t.is(socket.remoteAddress, HOST)
  t.is(socket.remotePort, client.localPort)
  t.is(socket.remoteFamily, 'IPv4')
  t.is(socket.localAddress, HOST)
  t.is(socket.localPort, server.port)
  t.deepEqual(socket.address(), { address: HOST, port: server.port, family: 'IPv4' })
  t.is(socket.setNoDelay(true), socket)
  t.is(socket.setKeepAlive(true), socket)
  t.is(socket.ref(), socket)
  t.is(socket.unref(), socket)
})

test('a paused RioSocket stops receiving, so the writes of its peer stop draining; resuming delivers every byte', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const peer = net.connect({ host: HOST, port: server.port })
  t.teardown(() => peer.destroy())
  const [accepted] = await Promise.all([acceptWithin(server), once(peer, 'connect')])
  const socket = toDuplex(accepted)
  t.teardown(() => socket.destroy())
  let received = 0
  socket.on('data', (chunk) => (received += chunk.length))
  const chunk = Buffer.alloc(MiB, 7)
  let written = 0
  const write = () => {
    written += chunk.length
    return peer.write(chunk)
  }

  // Flowing: what the peer writes arrives.
  write()
  await within(
    (async () => {
      while (received < written) await delay(5)
    })(),
    5000,
    'the first MiB',
  )

  // Paused: the peer writes until a write has not drained for a while. The socket buffers stay
  // bounded (the kernel's, a few MiB), so that must happen long before 512 MiB.
  socket.pause()
  const receivedWhenPaused = received
  for (;;) {
    if (written > 512 * MiB) return t.fail(`the peer wrote ${written} bytes into a paused socket without blocking`)
    if (write()) continue
    const drained = await once(peer, 'drain', { signal: AbortSignal.timeout(500) }).then(
      () => true,
      () => false,
    )
    if (!drained) break
  }
  t.log(`the peer blocked after ${written / MiB} MiB`)
  await delay(100)
  t.true(received - receivedWhenPaused <= 64 * 1024, `${received - receivedWhenPaused} bytes came as 'data' while paused`)
  t.true(socket.readableLength <= 128 * 1024, `the paused socket buffered ${socket.readableLength} bytes`)
  t.true(peer.writableLength > 0, 'the peer has writes waiting')

  // Resumed: everything the peer wrote arrives, then the end of the stream.
  socket.resume()
  peer.end()
  await within(once(socket, 'end'), 30_000, 'the end of the stream')
  t.is(received, written)
})

test('a RioSocket whose peer resets emits a `read ECONNRESET` error and closes its connection', async (t) => {
  const { port, nextConnection } = await nodeServer(t)
  const socket = toDuplex(await connect({ host: HOST, port }))
  t.teardown(() => socket.destroy())
  const peer = await nextConnection()
  socket.resume()
  const failed = once(socket, 'error')
  // Not once(): it rejects on the 'error' event this test waits for.
  const closed = new Promise((resolve) => socket.once('close', resolve))
  peer.resetAndDestroy()
  const [error] = await within(failed, 5000, 'the error event')
  t.is(error.message, 'read ECONNRESET')
  t.is(error.code, 'ECONNRESET')
  t.is(error.syscall, 'read')
  await within(closed, 5000, 'the close event')
  t.is(socket.connection.fd, -1)
})

test('destroying a RioSocket closes its connection: the peer sees the end and a later write errors', async (t) => {
  const { port, nextConnection } = await nodeServer(t)
  const socket = toDuplex(await connect({ host: HOST, port }))
  const peer = await nextConnection()
  peer.resume()
  const peerEnded = once(peer, 'end')
  socket.destroy()
  await within(once(socket, 'close'), 5000, 'the close event')
  await within(peerEnded, 5000, 'the peer seeing the end')
  t.is(socket.connection.fd, -1)
  const error = await rejectionOf(t, socket.connection.send('late'))
  t.is(error.code, 'ERR_SOCKET_CLOSED')
})

/**
 * A node:http server served over rio: GET answers with the path and which connection carried it,
 * POST echoes the body. `connections` is how many connections node:http was handed.
 */
async function httpOverRio(t) {
  const ids = new WeakMap()
  let connections = 0
  const server = http.createServer((request, response) => {
    const id = ids.get(request.socket)
    if (request.method === 'POST') {
      response.setHeader('x-connection', id)
      request.pipe(response)
      return
    }
    response.setHeader('content-type', 'text/plain')
    response.setHeader('x-connection', id)
    response.setHeader('x-remote', `${request.socket.remoteAddress}`)
    response.end(`hello ${request.url}`)
  })
  server.on('connection', (socket) => {
    connections++
    ids.set(socket, connections)
  })
  const listener = await serveHttp(server, { host: HOST, port: 0 })
  t.teardown(async () => {
    server.closeAllConnections()
    await settledWithin(listener.close())
  })
  return { server, listener, port: listener.port, connections: () => connections }
}

/** A request with node:http's client: status, headers and the whole body. */
function request(options, body) {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(options, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }))
      response.on('error', reject)
    })
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

test('node:http over serveHttp: keep-alive GETs share one rio connection, and a 16 MiB POST body echoes back intact', async (t) => {
  const { port, connections } = await httpOverRio(t)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 5; i++) {
    const response = await within(request({ host: HOST, port, path: `/get/${i}`, agent }), 5000, `GET ${i}`)
    t.is(response.status, 200)
    t.is(response.body.toString(), `hello /get/${i}`)
    t.is(response.headers['x-connection'], '1', 'keep-alive reuses the first connection')
    t.is(response.headers['x-remote'], HOST)
    t.is(response.headers.connection, 'keep-alive')
  }
  t.is(connections(), 1)

  const body = payload(16 * MiB)
  const posted = await within(
    request({ host: HOST, port, path: '/echo', method: 'POST', agent, headers: { 'content-type': 'application/octet-stream' } }, body),
    30_000,
    'the POST',
  )
  t.is(posted.status, 200)
  t.is(posted.headers['x-connection'], '1')
  t.is(posted.body.length, body.length)
  t.is(sha256(posted.body), sha256(body))
  const after = await within(request({ host: HOST, port, path: '/after', agent }), 5000, 'the GET after the POST')
  t.is(after.body.toString(), 'hello /after')
  t.is(connections(), 1)
})

test('node:http over serveHttp: parallel requests from several connections each get their own answer', async (t) => {
  const { port, connections } = await httpOverRio(t)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  t.teardown(() => agent.destroy())
  const responses = await within(
    Promise.all(Array.from({ length: 40 }, (_, i) => request({ host: HOST, port, path: `/parallel/${i}`, agent }))),
    10_000,
    'the requests',
  )
  for (const [i, response] of responses.entries()) t.is(response.body.toString(), `hello /parallel/${i}`)
  t.true(connections() >= 2 && connections() <= 8, `${connections()} connections`)
})

/** How long after answering a keep-alive request a node:http server on `port` ends the idle connection. */
async function idleConnectionLifetime(port) {
  const socket = net.connect({ host: HOST, port })
  await once(socket, 'connect')
  let answeredAt = 0
  socket.on('data', () => (answeredAt ||= performance.now()))
  socket.write(`GET /idle HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`)
  await within(once(socket, 'end'), 10_000, 'the server ending the idle connection')
  socket.destroy()
  return performance.now() - answeredAt
}

test('node:http ends an idle keep-alive connection over rio after keepAliveTimeout, as it ends a net.Socket', async (t) => {
  const keepAliveTimeoutMs = 300
  const { server, port } = await httpOverRio(t)
  server.keepAliveTimeout = keepAliveTimeoutMs
  const overRio = await idleConnectionLifetime(port)

  const plain = http.createServer((_request, response) => response.end('plain'))
  plain.keepAliveTimeout = keepAliveTimeoutMs
  plain.listen(0, HOST)
  await once(plain, 'listening')
  t.teardown(() => plain.close())
  const overNet = await idleConnectionLifetime(plain.address().port)

  t.log(`idle for ${Math.round(overRio)} ms over rio, ${Math.round(overNet)} ms over node:net`)
  t.true(overRio >= keepAliveTimeoutMs - 20, `ended after ${overRio} ms`)
  t.true(Math.abs(overRio - overNet) < 500, `${overRio} ms over rio, ${overNet} ms over node:net`)
})

test('fetch against node:http over serveHttp: GET, and a POST of 4 MiB echoed back', async (t) => {
  const { port } = await httpOverRio(t)
  const base = `http://${HOST}:${port}`
  const got = await within(fetch(`${base}/fetched`), 5000, 'the GET')
  t.is(got.status, 200)
  t.is(got.headers.get('content-type'), 'text/plain')
  t.is(await got.text(), 'hello /fetched')

  const body = payload(4 * MiB)
  const posted = await within(fetch(`${base}/echo`, { method: 'POST', body }), 30_000, 'the POST')
  t.is(posted.status, 200)
  const echoed = Buffer.from(await posted.arrayBuffer())
  t.is(echoed.length, body.length)
  t.true(echoed.equals(body))
  const again = await within(fetch(`${base}/again`), 5000, 'the GET after the POST')
  t.is(await again.text(), 'hello /again')
})

test('node:http over serveHttp acts as a listening server: address(), requestTimeout enforced, close(cb) stops the rio listener', async (t) => {
  const server = http.createServer({ requestTimeout: 300, headersTimeout: 300, connectionsCheckingInterval: 50 }, (_request, response) => response.end('ok'))
  const listener = await serveHttp(server, { host: HOST, port: 0 })
  t.teardown(() => settledWithin(listener.close()))
  t.deepEqual(server.address(), listener.address())

  // A client that never finishes its headers is answered 408 and cut off, as on a node:net server.
  const slow = net.connect({ host: HOST, port: listener.port })
  t.teardown(() => slow.destroy())
  await once(slow, 'connect')
  const received = []
  slow.on('data', (chunk) => received.push(chunk))
  slow.write('GET / HTTP/1.1\r\nHost: x\r\n')
  await within(once(slow, 'close'), 5000, 'the server ending a request that never completes')
  t.regex(Buffer.concat(received).toString(), /^HTTP\/1\.1 408/)

  const closed = new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
  await within(closed, 5000, "server.close's callback")
  t.true(listener.closed, 'closing the http server closed the rio listener')
  const refused = net.connect({ host: HOST, port: listener.port })
  const [error] = await within(once(refused, 'error').catch((error) => [error]), 5000, 'the refused connect')
  t.is(error.code, 'ECONNREFUSED')
})

// rio-uring/net over loopback TCP: 64 MiB transfers, half-close, resets, refused connects,
// EADDRINUSE, addresses, IPv6, and what closing a server or a connection does to the ops in
// flight on it; errors are compared with the ones node:net gives for the same failure. Runs on
// the backend RIO_URING_BACKEND names. Echo round trips at scale are in net-echo.spec.mjs,
// toDuplex and serveHttp in net-duplex.spec.mjs, and the fd leak count is alone in
// net-fds.spec.mjs (it counts this process's fds).
import test from 'ava'
import net from 'node:net'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { listen, connect } from 'rio-uring/net'
import { assertSameSystemError, rejectionOf } from './support.mjs'
import {
  HOST,
  MiB,
  acceptWithin,
  echo,
  closedPort,
  nodeEchoServer,
  nodeRoundTrips,
  nodeServer,
  outcomeOf,
  ownRing,
  payload,
  recvExactly,
  recvToEnd,
  readToEnd,
  rioEchoServer,
  rioRoundTrips,
  settledWithin,
  stillPending,
  within,
} from './net-support.mjs'

/** A rio client connected to a node:net server (`options` for it): the client and the server's socket, closed when the test ends. */
async function connectedToNodeServer(t, options) {
  const { port, nextConnection } = await nodeServer(t, options)
  const client = await connect({ host: HOST, port })
  t.teardown(() => settledWithin(client.close()))
  return { client, peer: await nextConnection() }
}

/**
 * How a test title says which receive the iterated connection uses (iteration reads through
 * either). The threads backend has no multishot receive, so there `multishotReceive` reads
 * single-shot, and the title says so.
 */
function receiveMode(multishotReceive) {
  if (!multishotReceive) return ''
  return process.env.RIO_URING_BACKEND === 'threads' ? ' (multishotReceive asked for; threads reads single-shot)' : ' (multishotReceive)'
}

test('64 MiB go each way at once between a rio client and a rio server, byte-identical', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const up = payload(64 * MiB)
  const down = payload(64 * MiB)
  const serverSide = async () => {
    const connection = await acceptWithin(server)
    try {
      const [received] = await Promise.all([recvToEnd(connection), connection.send(down).then(() => connection.shutdown('write'))])
      return received
    } finally {
      await connection.close()
    }
  }
  const clientSide = async () => {
    const client = await connect({ host: HOST, port: server.port })
    t.teardown(() => settledWithin(client.close()))
    return Promise.all([client.send(up).then((n) => client.shutdown('write').then(() => n)), recvToEnd(client)])
  }
  const [receivedByServer, [sent, received]] = await within(Promise.all([serverSide(), clientSide()]), 60_000, 'the transfer')
  t.is(sent, up.length, 'send resolves to the whole length')
  t.is(received.length, down.length)
  t.true(received.equals(down), 'the client received different bytes than the server sent')
  t.is(receivedByServer.length, up.length)
  t.true(receivedByServer.equals(up), 'the server received different bytes than the client sent')
})

test('with multishotReceive, a for-await echo carries 8 MiB each way byte-identical (one multishot receive per connection where the kernel has it)', async (t) => {
  const server = await listen({ host: HOST, port: 0, multishotReceive: true })
  t.teardown(() => settledWithin(server.close()))
  const serving = (async () => {
    const connection = await acceptWithin(server)
    await echo(connection)
  })()
  const client = await connect({ host: HOST, port: server.port, multishotReceive: true })
  t.teardown(() => settledWithin(client.close()))
  const data = payload(8 * MiB)
  const received = []
  const reading = (async () => {
    for await (const chunk of client) received.push(chunk)
  })()
  await within(client.send(data).then(() => client.shutdown('write')), 30_000, 'the send')
  await within(Promise.all([reading, serving]), 30_000, 'the echo')
  t.true(Buffer.concat(received).equals(data), 'the echo differs from what was sent')
})

test('sends started while one is in flight go out whole and in call order, never interleaved', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  // Each far larger than the socket buffers: the first send is partial, its rest queued behind.
  const parts = [payload(8 * MiB), payload(3 * MiB), Buffer.from('tail')]
  const sent = Promise.all(parts.map((part) => client.send(part))).then(() => client.shutdown('write'))
  const [received] = await within(Promise.all([readToEnd(peer), sent]), 30_000, 'the transfer')
  t.true(received.equals(Buffer.concat(parts)), 'the bytes of concurrent sends were interleaved or reordered')
})

test('sends made while others are in flight, as they settle, or once all have settled all go out in call order', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  const received = readToEnd(peer)
  const parts = []
  const sends = []
  const send = (bytes) => {
    parts.push(bytes)
    const sending = client.send(bytes)
    sends.push(sending)
    return sending
  }
  const followUps = []
  for (let round = 0; round < 40; round++) {
    // A send larger than the socket buffers (continued from staging), small ones queued behind
    // it, one made from the first one's settling, then a pause until everything has settled.
    const first = send(payload(round % 4 === 0 ? 2 * MiB : 1000 + round))
    followUps.push(first.then(() => send(payload(300))))
    for (let i = 0; i < 5; i++) send(payload(10 + i))
    if (round % 2 === 0) await Promise.all([...sends, ...followUps])
    else await null
  }
  // Every send is made once its first has settled; only then is `sends` complete.
  await within(Promise.all(followUps), 30_000, 'the follow-up sends')
  await within(Promise.all(sends), 30_000, 'the sends')
  await client.shutdown('write')
  const bytes = await within(received, 30_000, 'the transfer')
  t.true(bytes.equals(Buffer.concat(parts)), 'a send overtook one made before it')
})

test("shutdown('write') lets the sends already made go out first, and a send after it rejects with EPIPE", async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  // Far larger than the socket buffers: shut down at once, the kernel would refuse the rest.
  const parts = [payload(8 * MiB), Buffer.from('queued behind it')]
  const sends = parts.map((part) => client.send(part))
  const shutDown = client.shutdown('write')
  const late = await rejectionOf(t, client.send(Buffer.from('too late')))
  t.is(late.code, 'EPIPE')
  t.is(late.errno, -32)
  t.is(late.syscall, 'write')
  t.is(late.message, 'write EPIPE')
  const [received] = await within(Promise.all([readToEnd(peer), shutDown, ...sends]), 30_000, 'the transfer')
  t.true(received.equals(Buffer.concat(parts)), 'the peer did not get every byte sent before the shutdown')
})

test("shutdown('both') ends pending receives at once and the sending side after the sends already made", async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  peer.pause()
  const receiving = client.recv(Buffer.alloc(16))
  const big = client.send(payload(16 * MiB))
  const shutDown = client.shutdown('both')
  t.is(await within(receiving, 5_000, 'the pending recv'), 0, 'the receiving side did not end at once')
  t.true(await stillPending(shutDown, 100), "shutdown('both') did not wait for the send")
  const reading = readToEnd(peer)
  peer.resume()
  const [received] = await within(Promise.all([reading, big, shutDown]), 30_000, 'the transfer')
  t.is(received.length, 16 * MiB, 'the peer did not get the whole send before the end of the stream')
})

test("shutdown('read') does not wait for sends or stop later ones", async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  peer.pause()
  const big = client.send(payload(16 * MiB))
  // Resolves while the big send is still held by a peer that reads nothing.
  await within(client.shutdown('read'), 5_000, "shutdown('read')")
  t.true(await stillPending(big, 100), 'the send finished although the peer reads nothing')
  const after = client.send(Buffer.from('after'))
  const done = Promise.all([big, after]).then(() => client.shutdown('write'))
  const reading = readToEnd(peer)
  peer.resume()
  const [received] = await within(Promise.all([reading, done]), 30_000, 'the transfer')
  t.is(received.length, 16 * MiB + 5)
  t.is(received.subarray(16 * MiB).toString(), 'after')
})

// Serial: close() gives sends CLOSE_GRACE_MS (50 ms) to reach the kernel, which other tests
// building large payloads on the same event loop could use up.
test.serial('close() with sends queued lets them go out first, in call order, then ends the stream; a send after close() rejects', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  const received = readToEnd(peer)
  const parts = [payload(256 * 1024), payload(100), Buffer.from('tail')]
  const sends = parts.map((part) => client.send(part))
  const closed = client.close()
  const late = rejectionOf(t, client.send('late'))
  t.deepEqual(await within(Promise.all(sends), 5000, 'the queued sends'), parts.map((part) => part.length))
  await within(closed, 5000, 'close()')
  t.true((await within(received, 5000, 'the peer reading to the end')).equals(Buffer.concat(parts)))
  t.is((await late).code, 'ERR_SOCKET_CLOSED')
})

test('close() with sends queued behind one the peer does not read settles all of them: they reject, close() and a waiting shutdown() resolve', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  peer.pause()
  const sends = [client.send(payload(64 * MiB)), client.send(payload(10)), client.send(payload(10))]
  // Waits for the sends, so it waits as long as the peer reads nothing.
  const shutDown = client.shutdown('write')
  t.true(await stillPending(sends[0], 100), 'the first send finished although the peer reads nothing')
  t.true(await stillPending(shutDown, 0), "shutdown('write') did not wait for the sends")
  await within(client.close(), 5000, 'close()')
  for (const [index, outcome] of (await within(Promise.allSettled(sends), 5000, 'the sends')).entries()) {
    t.is(outcome.status, 'rejected', `send ${index}`)
    t.truthy(outcome.reason?.code, `send ${index}: ${outcome.reason}`)
  }
  // The close shut the socket down itself: the waiting shutdown has nothing left to do.
  t.is(await within(shutDown, 5000, "shutdown('write')"), undefined)
})

test('a send of a buffer detached before the call sends nothing; one detached while queued rejects with ERR_INVALID_STATE; later sends go out', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  const received = readToEnd(peer)
  const detachedFirst = new Uint8Array(8)
  structuredClone(detachedFirst.buffer, { transfer: [detachedFirst.buffer] })
  t.is(await within(client.send(detachedFirst), 5000, 'the send of a detached buffer'), 0)
  // Queued behind a send larger than the socket buffers, detached before its turn.
  const big = payload(8 * MiB)
  const first = client.send(big)
  const queued = new Uint8Array(8).fill(0x71)
  const queuedSend = client.send(queued)
  structuredClone(queued.buffer, { transfer: [queued.buffer] })
  const after = client.send('after')
  t.is(await within(first, 30_000, 'the large send'), big.length)
  const error = await t.throwsAsync(within(queuedSend, 5000, 'the queued send'))
  t.is(error.code, 'ERR_INVALID_STATE')
  t.is(await within(after, 5000, 'the send after it'), 5)
  await client.shutdown('write')
  t.true((await within(received, 30_000, 'the transfer')).equals(Buffer.concat([big, Buffer.from('after')])))
})

test('slot-sized sends the kernel takes in part (a small send buffer, a reader that waits) continue from where they stopped, in order', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  // The client on a ring of its own, whose counters show the continued sends.
  const ring = ownRing(t, { entries: 64 })
  const client = await connect({ host: HOST, port: server.port, ring })
  t.teardown(() => settledWithin(client.close()))
  const peer = await acceptWithin(server)
  t.teardown(() => settledWithin(peer.close()))
  client.setSendBufferSize(4096)
  t.true(client.getSendBufferSize() <= 16 * 1024, 'the kernel kept the small send buffer')
  // Timers holding the first slots, so the sends' slot stages its bytes a few cache lines in
  // (socket ops stage at an offset that depends on the slot; slot 0's is 0).
  const holding = new AbortController()
  const timers = Array.from({ length: 5 }, () => ring.timeout(60_000, { signal: holding.signal }).catch(() => undefined))
  t.teardown(() => holding.abort())
  // Each under 64 KiB (staged in a ring slot, not a buffer of its own), all of them far more than
  // the buffers hold while the reader waits: some are taken a piece at a time.
  const parts = Array.from({ length: 48 }, (_, i) => payload(60 * 1024 + i))
  // Flushed first: `submitted` counts ops as they reach the kernel, and the timers have not yet.
  ring.flush()
  const before = ring.stats().submitted
  const sent = Promise.all(parts.map((part) => client.send(part)))
  await delay(50)
  const received = recvToEnd(peer)
  await within(sent, 30_000, 'the sends')
  const submitted = ring.stats().submitted - before
  await client.shutdown('write')
  const bytes = await within(received, 30_000, 'the transfer')
  t.true(bytes.equals(Buffer.concat(parts)), 'the bytes differ from what was sent')
  t.true(submitted > parts.length, `no send was continued (${submitted} ops for ${parts.length} sends): the test did not test that`)
  holding.abort()
  await within(Promise.all(timers), 5000, 'the cancelled timers')
})

test("socket buffer sizes: set and read back (Linux doubles what is set); bad sizes throw Node's argument errors, a closed connection ERR_SOCKET_CLOSED", async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const client = await connect({ host: HOST, port: server.port })
  t.teardown(() => settledWithin(client.close()))
  const peer = await acceptWithin(server)
  t.teardown(() => settledWithin(peer.close()))
  client.setSendBufferSize(64 * 1024)
  client.setRecvBufferSize(32 * 1024)
  t.is(client.getSendBufferSize(), 2 * 64 * 1024)
  t.is(client.getRecvBufferSize(), 2 * 32 * 1024)
  t.throws(() => client.setSendBufferSize('4096'), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError })
  for (const size of [0, -1, 2 ** 31]) {
    t.throws(() => client.setRecvBufferSize(size), { code: 'ERR_OUT_OF_RANGE', instanceOf: RangeError, message: /must be >= 1 && <= 2147483647/ }, `size ${size}`)
  }
  for (const size of [1.5, Number.NaN]) {
    t.throws(() => client.setRecvBufferSize(size), { code: 'ERR_OUT_OF_RANGE', instanceOf: RangeError, message: /must be an integer/ }, `size ${size}`)
  }
  t.is(client.getRecvBufferSize(), 2 * 32 * 1024, 'a refused size changed nothing')
  await client.close()
  t.throws(() => client.getSendBufferSize(), { code: 'ERR_SOCKET_CLOSED' })
  t.throws(() => client.setSendBufferSize(4096), { code: 'ERR_SOCKET_CLOSED' })
})

test('64 MiB from a node:net client echo through a rio server byte-identical', async (t) => {
  const { port, failures } = await rioEchoServer(t)
  const data = payload(64 * MiB)
  const socket = net.connect({ host: HOST, port })
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.end(data)
  const echoed = await within(readToEnd(socket), 60_000, 'the echo')
  t.is(echoed.length, data.length)
  t.true(echoed.equals(data))
  t.deepEqual(failures, [])
})

test('64 MiB from a rio client echo through a node:net server byte-identical', async (t) => {
  const { port } = await nodeEchoServer(t)
  const data = payload(64 * MiB)
  const client = await connect({ host: HOST, port })
  t.teardown(() => settledWithin(client.close()))
  const [, echoed] = await within(Promise.all([client.send(data).then(() => client.shutdown('write')), recvToEnd(client)]), 60_000, 'the echo')
  t.is(echoed.length, data.length)
  t.true(echoed.equals(data))
})

test('half-close: after the client shuts down writing, the server reads to the end and its reply still reaches the client', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const serverSide = async () => {
    const connection = await acceptWithin(server)
    try {
      const request = await recvToEnd(connection)
      await connection.send(`got ${request.length} bytes: ${request}`)
    } finally {
      await connection.close()
    }
  }
  const clientSide = async () => {
    const client = await connect({ host: HOST, port: server.port })
    t.teardown(() => settledWithin(client.close()))
    await client.send('question')
    await client.shutdown('write')
    const reply = await recvToEnd(client)
    return { reply, after: await client.recv(Buffer.alloc(8)) }
  }
  const [, { reply, after }] = await within(Promise.all([serverSide(), clientSide()]), 10_000, 'the exchange')
  t.is(reply.toString(), 'got 8 bytes: question')
  t.is(after, 0, 'the end of the stream stays the end')
})

test('half-close against node:net: a node server with allowHalfOpen sees the end and replies; a node client that ends still gets the rio reply', async (t) => {
  const { client, peer } = await connectedToNodeServer(t, { allowHalfOpen: true })
  await client.send('to node')
  await client.shutdown('write')
  t.is((await within(readToEnd(peer), 5000, 'node reading to the end')).toString(), 'to node')
  peer.end('from node')
  t.is((await recvToEnd(client)).toString(), 'from node')

  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const socket = net.connect({ host: HOST, port: server.port, allowHalfOpen: true })
  t.teardown(() => socket.destroy())
  const connection = await acceptWithin(server)
  t.teardown(() => settledWithin(connection.close()))
  socket.end('to rio')
  t.is((await within(recvToEnd(connection), 5000, 'rio reading to the end')).toString(), 'to rio')
  await connection.send('from rio')
  await connection.shutdown('write')
  t.is((await readToEnd(socket)).toString(), 'from rio')
})

/** The error a node:net client gets when its peer resets the connection. */
async function nodeResetError(t) {
  const { port, nextConnection } = await nodeServer(t)
  const socket = net.connect({ host: HOST, port })
  const [peer] = await Promise.all([nextConnection(), once(socket, 'connect')])
  const failed = once(socket, 'error')
  peer.resetAndDestroy()
  const [error] = await failed
  return error
}

test('a peer reset rejects a recv in flight with `read ECONNRESET`, as node:net reports it, and then sends reject with EPIPE or ECONNRESET', async (t) => {
  const expected = await nodeResetError(t)
  t.is(expected.message, 'read ECONNRESET')
  const { client, peer } = await connectedToNodeServer(t)
  const recv = client.recv(Buffer.alloc(64))
  t.true(await stillPending(recv, 20))
  peer.resetAndDestroy()
  const error = await within(rejectionOf(t, recv), 5000, 'the recv')
  assertSameSystemError(t, error, expected)

  const sendError = await within(rejectionOf(t, client.send(Buffer.alloc(1024))), 5000, 'the send')
  t.true(sendError instanceof Error)
  t.true(['EPIPE', 'ECONNRESET'].includes(sendError.code), sendError.message)
  t.is(sendError.message, `write ${sendError.code}`)
  t.is(sendError.syscall, 'write')
  t.is(sendError.errno, sendError.code === 'EPIPE' ? -32 : -104)
})

test('a peer reset in the middle of a large send rejects the send with `write ECONNRESET` or `write EPIPE`', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  peer.pause()
  const send = client.send(payload(64 * MiB))
  t.true(await stillPending(send, 100), 'the send finished although the peer reads nothing')
  peer.resetAndDestroy()
  const error = await within(rejectionOf(t, send), 5000, 'the send')
  t.true(['EPIPE', 'ECONNRESET'].includes(error.code), error.message)
  t.is(error.message, `write ${error.code}`)
  t.is(error.syscall, 'write')
  t.is(error.errno, error.code === 'EPIPE' ? -32 : -104)
})

for (const multishotReceive of [false, true]) {
  test(`a node:net client resetting its connection rejects the rio server side recv with \`read ECONNRESET\`${receiveMode(multishotReceive)}`, async (t) => {
    const server = await listen({ host: HOST, port: 0, multishotReceive })
    t.teardown(() => settledWithin(server.close()))
    const socket = net.connect({ host: HOST, port: server.port })
    socket.on('error', () => {})
    const [connection] = await Promise.all([acceptWithin(server), once(socket, 'connect')])
    t.teardown(() => settledWithin(connection.close()))
    const iterating = (async () => {
      for await (const chunk of connection) void chunk
    })()
    await delay(20)
    socket.resetAndDestroy()
    const error = await within(rejectionOf(t, iterating), 5000, 'the iteration')
    t.is(error.message, 'read ECONNRESET')
    t.is(error.code, 'ECONNRESET')
    t.is(error.errno, -104)
    t.is(error.syscall, 'read')
    // The socket reports the reset once; reads after it see the end of the stream, in either mode.
    for (let i = 0; i < 2; i++) {
      t.deepEqual(await within(connection[Symbol.asyncIterator]().next(), 5000, 'a new iterator'), { value: undefined, done: true }, 'a new iterator after the reset')
    }
    t.is(await within(connection.recv(Buffer.alloc(16)), 5000, 'recv after the reset'), 0)
  })
}

test('connect to a port nobody listens on rejects like node:net: `connect ECONNREFUSED 127.0.0.1:PORT` with address and port', async (t) => {
  const port = await closedPort()
  const socket = net.connect({ host: HOST, port })
  const [expected] = await once(socket, 'error').catch((error) => [error])
  const error = await rejectionOf(t, connect({ host: HOST, port }))
  t.is(error.message, `connect ECONNREFUSED ${HOST}:${port}`)
  assertSameSystemError(t, error, expected)
  t.is(error.address, expected.address)
  t.is(error.port, expected.port)
  t.is(error.port, port)
})

test('a bad port rejects connect and listen with RangeError [ERR_SOCKET_BAD_PORT], as node:net throws it', async (t) => {
  for (const port of [70000, -1, 1.5]) {
    let expected
    try {
      net.connect({ host: HOST, port })
    } catch (error) {
      expected = error
    }
    t.is(expected?.code, 'ERR_SOCKET_BAD_PORT')
    for (const [call, rejected] of [
      ['connect', await rejectionOf(t, connect({ host: HOST, port }))],
      ['listen', await rejectionOf(t, listen({ host: HOST, port }))],
    ]) {
      t.true(rejected instanceof RangeError, `${call} port ${port}: ${rejected}`)
      t.is(rejected.code, expected.code, `${call} port ${port}: ${rejected.message}`)
    }
  }
})

test('a host that does not resolve rejects connect with `getaddrinfo ENOTFOUND <host>`, as node:net', async (t) => {
  const socket = net.connect({ host: 'nohost.invalid', port: 80 })
  const [expected] = await once(socket, 'error').catch((error) => [error])
  const error = await rejectionOf(t, connect({ host: 'nohost.invalid', port: 80 }))
  t.is(error.message, expected.message)
  t.is(error.code, expected.code)
  t.is(error.syscall, expected.syscall)
  t.is(error.hostname, expected.hostname)
})

test('connect without a host goes to localhost, as node:net does', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const [client, accepted] = await Promise.all([connect({ port: server.port }), acceptWithin(server)])
  t.teardown(() => settledWithin(client.close()))
  t.teardown(() => settledWithin(accepted.close()))
  t.is(client.remotePort, server.port)
})

test('listen on a port in use rejects like node:net: `listen EADDRINUSE: address already in use 127.0.0.1:PORT`', async (t) => {
  const rioServer = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(rioServer.close()))
  const nodeListener = net.createServer()
  nodeListener.listen(rioServer.port, HOST)
  const [expected] = await once(nodeListener, 'error').catch((error) => [error])
  t.is(expected.code, 'EADDRINUSE')

  const error = await rejectionOf(t, listen({ host: HOST, port: rioServer.port }))
  t.is(error.message, `listen EADDRINUSE: address already in use ${HOST}:${rioServer.port}`)
  assertSameSystemError(t, error, expected)
  t.is(error.address, expected.address)
  t.is(error.port, expected.port)

  const { port: nodePort } = await nodeServer(t)
  const onNodePort = await rejectionOf(t, listen({ host: HOST, port: nodePort }))
  t.is(onNodePort.code, 'EADDRINUSE')
  t.is(onNodePort.message, `listen EADDRINUSE: address already in use ${HOST}:${nodePort}`)
})

test('server.port and address() give the port the kernel picked; connections know both ends', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  t.true(Number.isInteger(server.port) && server.port > 0)
  t.deepEqual(server.address(), { address: HOST, port: server.port, family: 'IPv4' })
  server.address().port = 1
  t.is(server.address().port, server.port, 'address() hands out a copy')

  const [client, accepted] = await Promise.all([connect({ host: HOST, port: server.port }), acceptWithin(server)])
  t.teardown(() => settledWithin(client.close()))
  t.teardown(() => settledWithin(accepted.close()))
  t.is(client.remoteAddress, HOST)
  t.is(client.remotePort, server.port)
  t.is(client.remoteFamily, 'IPv4')
  t.deepEqual(client.address(), { address: HOST, port: accepted.remotePort, family: 'IPv4' })
  t.is(client.localPort, accepted.remotePort)
  t.is(accepted.localPort, server.port)
  t.is(accepted.remoteAddress, HOST)

  const port = await closedPort()
  const onPort = await listen({ host: HOST, port })
  t.teardown(() => settledWithin(onPort.close()))
  t.is(onPort.port, port)
})

test('IPv6: listen on ::1, connect from rio and node:net, addresses say IPv6', async (t) => {
  const { server, port, failures } = await rioEchoServer(t, { host: '::1' })
  t.deepEqual(server.address(), { address: '::1', port, family: 'IPv6' })
  await rioRoundTrips(port, 1, { host: '::1' })
  await nodeRoundTrips(port, 2, { host: '::1' })

  const { port: nodePort } = await nodeEchoServer(t, { host: '::1' })
  await rioRoundTrips(nodePort, 3, { host: '::1' })
  const client = await connect({ host: '::1', port: nodePort })
  t.teardown(() => settledWithin(client.close()))
  t.is(client.remoteFamily, 'IPv6')
  t.is(client.remoteAddress, '::1')
  t.is(client.address().family, 'IPv6')
  t.deepEqual(failures, [])
})

test('a server listening on every address (no host) takes IPv4 and IPv6 connections', async (t) => {
  const server = await listen({ port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const [v4, v4accepted] = await Promise.all([connect({ host: HOST, port: server.port }), acceptWithin(server)])
  const [v6, v6accepted] = await Promise.all([connect({ host: '::1', port: server.port }), acceptWithin(server)])
  for (const connection of [v4, v4accepted, v6, v6accepted]) t.teardown(() => settledWithin(connection.close()))
  await v4.send('4')
  await v6.send('6')
  t.is((await recvExactly(v4accepted, 1)).toString(), '4')
  t.is((await recvExactly(v6accepted, 1)).toString(), '6')
})

test('accept() hands out the connection the kernel accepted even when no other connection follows (20 servers, one connection each)', async (t) => {
  // The server keeps several accepts in flight; whichever of them takes the connection, the
  // caller waiting in accept() must get it.
  for (let i = 0; i < 20; i++) {
    const server = await listen({ host: HOST, port: 0 })
    t.teardown(() => settledWithin(server.close()))
    const accepting = server.accept()
    await delay(20)
    const client = await connect({ host: HOST, port: server.port })
    t.teardown(() => settledWithin(client.close()))
    const accepted = await within(accepting, 2000, `server ${i}: accept()`)
    t.is(accepted.remotePort, client.localPort)
    await accepted.close()
    await client.close()
    await server.close()
  }
})

test('connects waiting on a full accept queue do not hold up other ops on the same ring', async (t) => {
  // A server that never accepts, with room for one connection: the rest of the connects wait for
  // the kernel to retry their handshakes. Meanwhile a nop on the same ring must still run.
  const ring = ownRing(t, { entries: 1024 })
  const server = await listen({ host: HOST, port: 0, backlog: 1, ring })
  t.teardown(() => settledWithin(server.close()))
  const connects = Array.from({ length: 100 }, () => outcomeOf(connect({ host: HOST, port: server.port, ring })))
  await delay(200)
  await within(ring.nop(), 2000, 'a nop behind 100 waiting connects')
  // Closing the listener refuses the waiting connects (at their next handshake retry).
  await within(server.close(), 5000, 'server.close()')
  const outcomes = await within(Promise.all(connects), 10_000, 'the connects after close()')
  for (const outcome of outcomes) {
    if (outcome instanceof Error) t.is(outcome.code, 'ECONNREFUSED', outcome.message)
    else await outcome.close()
  }
})

test('closing a server with accepts in flight ends its async iteration; later accepts give null and connects are refused', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  let accepted = 0
  const iterating = (async () => {
    for await (const connection of server) {
      accepted++
      await connection.close()
    }
  })()
  const client = await connect({ host: HOST, port: server.port })
  t.teardown(() => settledWithin(client.close()))
  t.is(await within(client.recv(Buffer.alloc(8)), 5000, 'the recv'), 0, 'the server closed the accepted connection')
  t.true(await stillPending(iterating, 20), 'the iteration waits for the next connection')
  await within(server.close(), 5000, 'server.close()')
  await within(iterating, 5000, 'the iteration after close()')
  t.is(accepted, 1)
  t.true(server.closed)
  t.is(await within(server.accept(), 1000, 'accept() after close()'), null)
  await server.close()
  const refused = await rejectionOf(t, connect({ host: HOST, port: server.port }))
  t.is(refused.code, 'ECONNREFUSED')
})

test('closing a server whose accept() calls are pending resolves each of them to null', async (t) => {
  const server = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(server.close()))
  const accepts = [server.accept(), server.accept(), server.accept()]
  t.true(await stillPending(Promise.race(accepts), 20))
  await within(server.close(), 5000, 'server.close()')
  t.deepEqual(await within(Promise.all(accepts), 5000, 'the accepts'), [null, null, null])
})

test('closing a connection with a recv in flight settles the recv (0 or an error) and tells the peer', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  const recv = client.recv(Buffer.alloc(64))
  t.true(await stillPending(recv, 20))
  const peerEnded = once(peer, 'end')
  peer.resume()
  await within(client.close(), 5000, 'close()')
  const outcome = await within(outcomeOf(recv), 5000, 'the recv after close()')
  if (outcome instanceof Error) t.truthy(outcome.code, outcome.message)
  else t.is(outcome, 0)
  await within(peerEnded, 5000, 'the peer seeing the end')
  t.is(client.fd, -1)
  t.is(client.address(), null)
  const sendError = await rejectionOf(t, client.send('late'))
  t.is(sendError.code, 'ERR_SOCKET_CLOSED')
  const recvError = await rejectionOf(t, client.recv(Buffer.alloc(1)))
  t.is(recvError.code, 'ERR_SOCKET_CLOSED')
  await client.close()
})

test('closing a connection with a large send in flight settles the send (it rejects) instead of hanging', async (t) => {
  const { client, peer } = await connectedToNodeServer(t)
  peer.pause()
  const send = client.send(payload(64 * MiB))
  const sent = outcomeOf(send)
  t.true(await stillPending(send, 100), 'the send finished although the peer reads nothing')
  await within(client.close(), 5000, 'close()')
  const outcome = await within(sent, 5000, 'the send after close()')
  t.true(outcome instanceof Error, `the send resolved to ${outcome}`)
  t.truthy(outcome.code, outcome.message)
})

for (const multishotReceive of [false, true]) {
  test(`closing a connection ends an async iteration over it that is waiting for data${receiveMode(multishotReceive)}`, async (t) => {
    const server = await listen({ host: HOST, port: 0, multishotReceive })
    t.teardown(() => settledWithin(server.close()))
    const [client, accepted] = await Promise.all([connect({ host: HOST, port: server.port }), acceptWithin(server)])
    t.teardown(() => settledWithin(client.close()))
    const chunks = []
    const iterating = (async () => {
      for await (const chunk of accepted) chunks.push(chunk.toString())
    })()
    await client.send('one')
    await delay(20)
    t.true(await stillPending(iterating, 20))
    await within(accepted.close(), 5000, 'close()')
    await within(outcomeOf(iterating), 5000, 'the iteration after close()')
    t.deepEqual(chunks, ['one'])
  })
}

/** A rio client connected to a rio server (`options` for the server): both ends, all closed when the test ends. */
async function connectedThroughServer(t, options = {}) {
  const server = await listen({ host: HOST, port: 0, ...options })
  t.teardown(() => settledWithin(server.close()))
  const [client, accepted] = await Promise.all([connect({ host: HOST, port: server.port }), acceptWithin(server)])
  t.teardown(() => settledWithin(client.close()))
  t.teardown(() => settledWithin(accepted.close()))
  return { client, accepted }
}

for (const multishotReceive of [false, true]) {
  test(`a connection iterator ends with done once the stream ends, stays done, and a break leaves the connection usable${receiveMode(multishotReceive)}`, async (t) => {
    const { client, accepted } = await connectedThroughServer(t, { multishotReceive })
    await client.send('first')
    for await (const chunk of accepted) {
      t.is(chunk.toString(), 'first')
      break
    }
    // The break ended that iteration only: the connection still receives.
    await client.send('second')
    const iterator = accepted[Symbol.asyncIterator]()
    t.is(iterator[Symbol.asyncIterator](), iterator)
    t.is((await iterator.next()).value.toString(), 'second')
    await client.shutdown('write')
    t.deepEqual(await iterator.next(), { value: undefined, done: true })
    t.deepEqual(await iterator.next(), { value: undefined, done: true }, 'an ended iterator stays ended')
    t.deepEqual(await accepted[Symbol.asyncIterator]().next(), { value: undefined, done: true }, 'a new iterator after the end is done at once')
  })
}

for (const multishotReceive of [false, true]) {
  test(`a connection iterator reads next() calls made at once in order, and return() waits for them${receiveMode(multishotReceive)}`, async (t) => {
    const { client, accepted } = await connectedThroughServer(t, { multishotReceive })
    const iterator = accepted[Symbol.asyncIterator]()
    const first = iterator.next()
    const second = iterator.next()
    const ended = iterator.return()
    await client.send('one')
    const one = await first
    t.is(one.value.toString(), 'one')
    await delay(20)
    await client.send('two')
    t.is((await second).value.toString(), 'two', 'the second next() read after the first, not beside it')
    t.deepEqual(await ended, { value: undefined, done: true })
    t.deepEqual(await iterator.next(), { value: undefined, done: true })
    const thrown = accepted[Symbol.asyncIterator]()
    await t.throwsAsync(thrown.throw(new Error('stop')), { message: 'stop' })
    t.deepEqual(await thrown.next(), { value: undefined, done: true })
  })
}

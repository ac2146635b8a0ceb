// Misuse that must be harmless (issue 3): whatever JS does to a buffer, a ring, a worker or the
// process while ops are in flight, nothing crashes or hangs, and the kernel never writes into
// memory JS can still see after it gave it away. Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { Worker, MessageChannel } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { Ring } from 'rio-uring'
import * as native from '../native/index.js'
import { within } from './net-support.mjs'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

/** A connected pair: `fd` is a raw socket the ring owns, `peer` a node:net socket. */
async function socketPair(t) {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const fd = native.socketCreate(4, false)
  t.true(fd >= 0)
  const ring = t.context.ring
  await ring.connect(fd, server.address().port, '127.0.0.1')
  const [peer] = await accepted
  t.teardown(() => {
    peer.destroy()
    server.close()
    try { fs.closeSync(fd) } catch {}
  })
  return { fd, peer }
}

/** An empty file in a fresh temp dir, open for reading and writing; both gone when the test ends. */
function scratchFile(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-misuse-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'f')
  const fd = fs.openSync(file, 'w+')
  t.teardown(() => fs.closeSync(fd))
  return { file, fd }
}

test.beforeEach((t) => {
  t.context.ring = new Ring()
})

test.afterEach.always(async (t) => {
  await t.context.ring.close()
})

test('the suite runs on the backend it was asked for', (t) => {
  t.is(t.context.ring.backend, process.env.RIO_URING_BACKEND ?? t.context.ring.backend)
})

test('a read target that was collected while its recv was in flight is never written into', async (t) => {
  const { ring } = t.context
  const { fd, peer } = await socketPair(t)
  // Only the ring holds the targets; make garbage and collect it.
  const pending = []
  for (let i = 0; i < 8; i++) pending.push(ring.recv(fd, new Uint8Array(64 * 1024)))
  for (let i = 0; i < 5; i++) globalThis.gc()
  const marker = Buffer.alloc(8 * 1024, 0xab)
  peer.write(marker)
  const received = await Promise.race(pending)
  t.true(received > 0)
  // Memory handed out after the collection holds no trace of the bytes received.
  const fresh = Array.from({ length: 64 }, () => Buffer.allocUnsafe(64 * 1024))
  t.false(fresh.some((b) => b.includes(0xab) && b.indexOf(marker.subarray(0, 64)) !== -1))
})

test('a write source collected while its write is in flight still writes what it held', async (t) => {
  const { ring } = t.context
  const { file, fd } = scratchFile(t)
  // Only the ring saw the sources; collect them, and hand their memory out again.
  const writes = [4096, 256 * 1024, 4 << 20].map((size, i) => ring.writeAt(fd, Buffer.alloc(size, 0x31 + i), i << 23))
  for (let i = 0; i < 5; i++) globalThis.gc()
  const reuse = Array.from({ length: 16 }, () => Buffer.alloc(1 << 20, 0xee))
  t.deepEqual(await Promise.all(writes), [4096, 256 * 1024, 4 << 20])
  const back = fs.readFileSync(file)
  for (const [i, size] of [4096, 256 * 1024, 4 << 20].entries()) {
    t.true(back.subarray(i << 23, (i << 23) + size).every((byte) => byte === 0x31 + i), `write ${i}`)
  }
  t.is(reuse.length, 16)
})

test('a read target written by JS while its recv is in flight: received bytes land, the rest keeps what JS wrote', async (t) => {
  const { ring } = t.context
  const { fd, peer } = await socketPair(t)
  const target = Buffer.alloc(4096)
  const reading = ring.recv(fd, target)
  await ring.nop()
  target.fill(0x77)
  peer.write(Buffer.alloc(100, 0x42))
  const received = await reading
  t.true(received > 0 && received <= 100)
  t.true(target.subarray(0, received).every((byte) => byte === 0x42), 'the received bytes')
  t.true(target.subarray(received).every((byte) => byte === 0x77), 'beyond them, what JS wrote')
})

test('a write sends what the buffer held when it was called, whatever happens to the buffer after', async (t) => {
  const { ring } = t.context
  const { file, fd } = scratchFile(t)
  const small = Buffer.alloc(4096, 1)
  const large = Buffer.alloc(1 << 20, 2)
  const writes = [ring.writeAt(fd, small, 0), ring.writeAt(fd, large, 4096)]
  small.fill(9)
  large.fill(9)
  t.deepEqual(await Promise.all(writes), [4096, 1 << 20])
  const back = fs.readFileSync(file)
  t.true(back.subarray(0, 4096).equals(Buffer.alloc(4096, 1)))
  t.true(back.subarray(4096).equals(Buffer.alloc(1 << 20, 2)))
})

for (const [how, detach] of [
  ['structuredClone with a transfer list', (ab) => structuredClone(ab, { transfer: [ab] })],
  ['postMessage with a transfer list', (ab) => {
    const { port1, port2 } = new MessageChannel()
    port1.postMessage(ab, [ab])
    const received = port2.receiveMessageOnPort ? null : null
    port1.close()
    port2.close()
    return received
  }],
  ...(typeof ArrayBuffer.prototype.transfer === 'function' ? [['ArrayBuffer.prototype.transfer', (ab) => ab.transfer()]] : []),
]) {
  for (const [size, op] of [[4096, 'recv'], [256 * 1024, 'recv'], [4096, 'readAt'], [256 * 1024, 'readAt']]) {
    test(`a ${op} into a buffer detached (${how}) while in flight rejects and writes nothing (${size} bytes)`, async (t) => {
      const { ring } = t.context
      const { fd, peer } = await socketPair(t)
      const target = new Uint8Array(size)
      const reading = op === 'recv' ? ring.recv(fd, target) : ring.readAt(fd, target, -1)
      const moved = detach(target.buffer)
      t.is(target.byteLength, 0)
      peer.write(Buffer.alloc(1024, 0xcd))
      const error = await t.throwsAsync(reading)
      t.is(error.code, 'ERR_INVALID_STATE')
      t.regex(error.message, /detached/)
      if (moved) t.true(new Uint8Array(moved).every((b) => b === 0))
      // The ring is unharmed.
      await ring.nop()
      t.is(ring.stats().inFlight, 0)
    })
  }
}

test('a write source detached (ArrayBuffer transfer) right after the call still writes what it held', async (t) => {
  const { ring } = t.context
  const { file, fd } = scratchFile(t)
  const sizes = [4096, 1 << 20]
  const sources = sizes.map((size, i) => new Uint8Array(size).fill(0x61 + i))
  const writes = sources.map((source, i) => ring.writeAt(fd, source, i << 21))
  const moved = sources.map((source) => structuredClone(source.buffer, { transfer: [source.buffer] }))
  t.true(sources.every((source) => source.byteLength === 0))
  new Uint8Array(moved[0]).fill(0)
  t.deepEqual(await Promise.all(writes), sizes)
  const back = fs.readFileSync(file)
  t.true(back.subarray(0, 4096).every((byte) => byte === 0x61))
  t.true(back.subarray(1 << 21).every((byte) => byte === 0x62))
})

/** Timers holding every slot of `ring` for ~50 ms: ops made now wait for a slot. */
function holdSlots(ring) {
  const timers = []
  while (ring.stats().waiting === 0) timers.push(ring.timeout(50))
  return timers
}

/** A small ring whose slots timers hold for ~50 ms. */
function busyRing(t) {
  const ring = new Ring({ entries: 1 })
  t.teardown(() => ring.close())
  return { ring, timers: holdSlots(ring) }
}

test('writes of sources detached before the call write nothing and hold no slot: more of them than the ring has slots, then a normal write', async (t) => {
  const ring = new Ring({ entries: 4 })
  t.teardown(() => ring.close())
  const { file, fd } = scratchFile(t)
  for (let i = 0; i < 12; i++) {
    const source = new Uint8Array(16)
    structuredClone(source.buffer, { transfer: [source.buffer] })
    t.is(await within(ring.writeAt(fd, source, 0), 5000, 'a write of a detached source'), 0)
  }
  t.is(await within(ring.writeAt(fd, Buffer.from('after'), 0), 5000, 'the normal write after them'), 5)
  t.is(fs.readFileSync(file, 'latin1'), 'after')
})

test('a write source detached while its op waits for a slot rejects with ERR_INVALID_STATE, and the ring goes on', async (t) => {
  const { ring, timers } = busyRing(t)
  const { file, fd } = scratchFile(t)
  const source = new Uint8Array(16).fill(0x61)
  const waiting = ring.stats().waiting
  const write = ring.writeAt(fd, source, 0)
  t.is(ring.stats().waiting, waiting + 1, 'the write does not wait for a slot')
  structuredClone(source.buffer, { transfer: [source.buffer] })
  const error = await t.throwsAsync(within(write, 5000, 'the waiting write'))
  t.is(error.code, 'ERR_INVALID_STATE')
  t.regex(error.message, /detached, transferred or shrunk before its bytes were staged/)
  await Promise.all(timers)
  t.is(await within(ring.writeAt(fd, Buffer.from('ok'), 0), 5000, 'a write after it'), 2)
  t.is(fs.readFileSync(file, 'latin1'), 'ok')
  t.is(ring.stats().inFlight, 0)
})

test('a resizable write source shrunk while its op waits rejects; one grown writes the length it had at the call', async (t) => {
  const { ring, timers } = busyRing(t)
  const { file, fd } = scratchFile(t)
  // Earlier writes leave other bytes in the staging memory a stale copy would send.
  await Promise.all(timers)
  await ring.writeAt(fd, Buffer.alloc(64, 'S'), 4096)
  fs.ftruncateSync(fd, 0)
  const busy = holdSlots(ring)
  const shrinking = new ArrayBuffer(32, { maxByteLength: 64 })
  const growing = new ArrayBuffer(8, { maxByteLength: 64 })
  new Uint8Array(shrinking).fill(0x72)
  new Uint8Array(growing).fill(0x67)
  const waiting = ring.stats().waiting
  const shrunk = ring.writeAt(fd, new Uint8Array(shrinking), 0)
  const grown = ring.writeAt(fd, new Uint8Array(growing), 100)
  t.is(ring.stats().waiting, waiting + 2, 'the writes do not wait for a slot')
  shrinking.resize(4)
  growing.resize(64)
  new Uint8Array(growing).fill(0x47)
  const error = await t.throwsAsync(within(shrunk, 5000, 'the write whose source shrank'))
  t.is(error.code, 'ERR_INVALID_STATE')
  t.is(await within(grown, 5000, 'the write whose source grew'), 8)
  await Promise.all(busy)
  t.is(fs.readFileSync(file, 'latin1'), '\0'.repeat(100) + 'G'.repeat(8))
})

test('two concurrent reads into the same buffer each deliver whole data', async (t) => {
  const { ring } = t.context
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-misuse-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, Buffer.concat([Buffer.alloc(4096, 1), Buffer.alloc(4096, 2)]))
  const fd = fs.openSync(file, 'r')
  t.teardown(() => fs.closeSync(fd))
  const shared = Buffer.alloc(4096)
  t.deepEqual(await Promise.all([ring.readAt(fd, shared, 0), ring.readAt(fd, shared, 4096)]), [4096, 4096])
  t.true(shared.equals(Buffer.alloc(4096, 1)) || shared.equals(Buffer.alloc(4096, 2)))
})

test('closing a ring with ops in flight settles every op and frees the ring', async (t) => {
  const ring = new Ring()
  const { fd } = await socketPair({ ...t, context: { ring } })
  const ops = [
    ring.recv(fd, Buffer.alloc(100)),
    ring.recv(fd, Buffer.alloc(1 << 20)),
    ring.timeout(60_000),
    ring.nop(),
  ]
  const settled = Promise.allSettled(ops)
  const started = Date.now()
  await ring.close()
  const results = await settled
  t.true(Date.now() - started < 10_000)
  // The nop either ran before the close or was cancelled before it started.
  t.true(results[3].status === 'fulfilled' || results[3].reason.code === 'ECANCELED')
  for (const result of results.slice(0, 3)) {
    t.is(result.status, 'rejected')
    t.is(result.reason.code, 'ECANCELED')
  }
  const error = await t.throwsAsync(ring.nop())
  t.is(error.code, 'ERR_INVALID_STATE')
})

test('an fd closed while its recv is in flight settles the recv without crashing', async (t) => {
  const { ring } = t.context
  const { fd, peer } = await socketPair(t)
  const reading = ring.recv(fd, Buffer.alloc(100))
  await ring.nop()
  fs.closeSync(fd)
  peer.end()
  peer.destroy()
  // Whether the kernel still finishes the recv (0 bytes at end of stream) or it fails with EBADF or
  // is cancelled when the ring closes, it settles.
  const outcome = await Promise.race([
    reading.then((n) => `resolved ${n}`, (e) => `rejected ${e.code}`),
    new Promise((resolve) => setTimeout(resolve, 2000, 'pending')),
  ])
  if (outcome === 'pending') {
    await ring.close()
    t.regex(await reading.then(() => 'resolved', (e) => `rejected ${e.code}`), /rejected ECANCELED|resolved/)
  } else {
    t.regex(outcome, /resolved 0|rejected (EBADF|ECONNRESET|ENOTSOCK)/)
  }
})

test('an fd closed while a read of its pipe is in flight settles the read without crashing', async (t) => {
  const { ring } = t.context
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-misuse-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const fifo = path.join(dir, 'fifo')
  spawnSync('mkfifo', [fifo])
  // O_RDWR: the open does not wait for a writer, and the read waits for data that never comes.
  const fd = fs.openSync(fifo, fs.constants.O_RDWR)
  const target = Buffer.alloc(64)
  const reading = ring.readAt(fd, target, -1)
  await ring.nop()
  fs.closeSync(fd)
  const outcome = await Promise.race([
    reading.then((n) => `resolved ${n}`, (e) => `rejected ${e.code}`),
    new Promise((resolve) => setTimeout(resolve, 500, 'pending')),
  ])
  t.is(outcome, 'pending', 'the kernel holds the pipe open until the read ends')
  await ring.close()
  t.is(await reading.then(() => 'resolved', (e) => `rejected ${e.code}`), 'rejected ECANCELED')
  t.true(target.every((byte) => byte === 0))
})

test.serial('terminating workers with socket ops in flight (accept, recv) neither crashes nor leaks fds', async (t) => {
  const fdCount = () => fs.readdirSync('/proc/self/fd').length
  const source = `
    const { Ring } = require(${JSON.stringify(root)})
    const native = require(${JSON.stringify(path.join(root, 'native', 'index.js'))})
    const { parentPort } = require('node:worker_threads')
    const ring = new Ring()
    const listener = native.socketCreate(4, false)
    native.socketBind(listener, '127.0.0.1', 0, 16)
    const { port } = native.socketAddress(listener, false)
    const client = native.socketCreate(4, false)
    ring.accept(listener).then(({ fd }) => {
      for (let i = 0; i < 20; i++) ring.recv(fd, Buffer.alloc(65536))
      ring.accept(listener)
      ring.nop().then(() => parentPort.postMessage([listener, client, fd]))
    })
    ring.connect(client, port, '127.0.0.1').then(() => { for (let i = 0; i < 20; i++) ring.recv(client, Buffer.alloc(4096)) })
  `
  const before = fdCount()
  for (let round = 0; round < 10; round++) {
    const worker = new Worker(source, { eval: true })
    const [sockets] = await once(worker, 'message')
    t.is(sockets.length, 3)
    await worker.terminate()
    // Raw sockets belong to the process, not the worker: close them here.
    for (const fd of sockets) fs.closeSync(fd)
  }
  // Its ring (io_uring fd, eventfd) is gone with each worker.
  t.true(fdCount() <= before + 2, `fds before ${before}, after ${fdCount()}`)
  await t.context.ring.nop()
})

test.serial('terminating workers with ops in flight neither crashes nor leaks rings', async (t) => {
  const fdCount = () => fs.readdirSync('/proc/self/fd').length
  const source = `
    const { Ring } = require(${JSON.stringify(root)})
    const { parentPort } = require('node:worker_threads')
    const fs = require('node:fs')
    const ring = new Ring()
    const fd = fs.openSync(${JSON.stringify(path.join(root, 'package.json'))}, 'r')
    for (let i = 0; i < 200; i++) ring.readAt(fd, Buffer.alloc(4096), 0)
    for (let i = 0; i < 50; i++) ring.timeout(60000)
    ring.nop().then(() => parentPort.postMessage('busy'))
  `
  const before = fdCount()
  for (let round = 0; round < 10; round++) {
    const worker = new Worker(source, { eval: true })
    const [message] = await once(worker, 'message')
    t.is(message, 'busy')
    await worker.terminate()
  }
  // A worker's ring (its io_uring fd and eventfd) is gone with the worker.
  t.true(fdCount() <= before + 2, `fds before ${before}, after ${fdCount()}`)
  await t.context.ring.nop()
})

function runChild(source) {
  return spawnSync(process.execPath, ['-e', source], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env },
  })
}

test('process.exit with ops in flight exits cleanly', (t) => {
  const child = runChild(`
    const { Ring } = require(${JSON.stringify(root)})
    const ring = new Ring()
    for (let i = 0; i < 100; i++) ring.timeout(60000)
    ring.nop().then(() => { console.log('exiting'); process.exit(7) })
  `)
  t.is(child.stderr, '')
  t.is(child.stdout.trim(), 'exiting')
  t.is(child.status, 7)
})

test('ops in flight keep the process alive until they complete; an idle ring does not', (t) => {
  const child = runChild(`
    const { Ring } = require(${JSON.stringify(root)})
    const ring = new Ring()
    const started = Date.now()
    ring.timeout(300).then(() => console.log('timer fired after', Date.now() - started >= 250))
  `)
  t.is(child.stderr, '')
  t.is(child.stdout.trim(), 'timer fired after true')
  t.is(child.status, 0)

  const idle = runChild(`
    const { Ring } = require(${JSON.stringify(root)})
    const ring = new Ring()
    ring.nop().then(() => console.log('done'))
  `)
  t.is(idle.stdout.trim(), 'done')
  t.is(idle.status, 0)
})

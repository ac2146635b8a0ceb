// Shared set-up of the Ring op tests: rings and temp dirs that clean up after the test, files
// with known contents, connected sockets, and checks of how a call fails. Not a spec file: ava
// only runs `*.spec.mjs`.
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { Ring } from 'rio-uring'
import * as native from '../native/index.js'

/** An fd number no test ever has open: ops on it fail with EBADF. */
export const BAD_FD = 999_999

/** A ring closed when the test ends. */
export function openRing(t, options) {
  const ring = new Ring(options)
  t.teardown(() => ring.close())
  return ring
}

/** A fresh directory under the OS temp dir, removed when the test ends. */
export function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-uring-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `size` bytes that differ from offset to offset and from seed to seed. */
export function pattern(size, seed = 1) {
  const bytes = Buffer.allocUnsafe(size)
  let state = (seed * 2654435761) >>> 0
  for (let i = 0; i < size; i++) {
    state = (state * 1103515245 + 12345) >>> 0
    bytes[i] = state >>> 24
  }
  return bytes
}

/** A file in a temp dir holding `contents`, opened with `flags`; the fd is closed when the test ends. */
export function fileWith(t, contents, flags = 'r+') {
  const file = path.join(tempDir(t), 'data')
  fs.writeFileSync(file, contents)
  const fd = fs.openSync(file, flags)
  t.teardown(() => closeQuietly(fd))
  return { file, fd }
}

export function closeQuietly(fd) {
  try {
    fs.closeSync(fd)
  } catch {}
}

/** A listening TCP socket on 127.0.0.1 made with the addon's helpers: its fd and port. */
export function listeningSocket(t) {
  const fd = native.socketCreate(4, false)
  t.true(fd >= 0, `socketCreate: ${fd}`)
  t.teardown(() => closeQuietly(fd))
  t.is(native.socketBind(fd, '127.0.0.1', 0, 128), 0)
  return { fd, port: native.socketAddress(fd, false).port }
}

/** A new TCP socket fd, closed when the test ends. */
export function tcpSocket(t) {
  const fd = native.socketCreate(4, false)
  t.true(fd >= 0, `socketCreate: ${fd}`)
  t.teardown(() => closeQuietly(fd))
  return fd
}

/** Two connected raw sockets, both made by the ring: `accept` on one side, `connect` on the other. */
export async function connectedPair(t, ring) {
  const listener = listeningSocket(t)
  const client = tcpSocket(t)
  const [accepted] = await Promise.all([ring.accept(listener.fd), ring.connect(client, listener.port, '127.0.0.1')])
  t.teardown(() => closeQuietly(accepted.fd))
  return { server: accepted.fd, client, accepted, listener }
}

/** A raw socket fd connected to a node:net socket `peer`. */
export async function connectedToNode(t, ring) {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const connection = once(server, 'connection')
  const fd = tcpSocket(t)
  await ring.connect(fd, server.address().port, '127.0.0.1')
  const [peer] = await connection
  t.teardown(() => {
    peer.destroy()
    server.close()
  })
  return { fd, peer }
}

/**
 * Asserts that `call()` returns a promise (never throws) and that it rejects with an error
 * matching `expectations` (ava's `throwsAsync` expectations: instanceOf, code, message, ...).
 */
export async function rejects(t, call, expectations) {
  let promise
  t.notThrows(() => {
    promise = call()
  }, 'the call threw synchronously instead of returning a rejected promise')
  t.true(promise instanceof Promise, 'the call did not return a promise')
  return t.throwsAsync(promise, expectations)
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejectionOf(t, promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  t.fail('expected the promise to reject')
  return undefined
}

/** Asserts that `error` has the shape and message Node gives `expected` (from node:fs for the same failure). */
export function assertSameSystemError(t, error, expected) {
  t.true(error instanceof Error)
  t.is(error.message, expected.message)
  t.is(error.code, expected.code)
  t.is(error.errno, expected.errno)
  t.true(error.errno < 0)
  t.is(error.syscall, expected.syscall)
  t.is(error.path, expected.path)
  t.is(error.dest, expected.dest)
}

/** Resolves once `condition()` is true; rejects after `timeoutMs`. */
export async function eventually(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * Runs `command` without blocking the event loop (other tests keep running meanwhile): its exit
 * status, and stdout and stderr as strings (or Buffers with `encoding: 'buffer'`). A run still
 * going after `timeoutMs` is killed and reported with `timedOut: true`.
 */
export function runProcess(command, args, { cwd, timeoutMs = 60_000, encoding = 'utf8' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    const stdout = []
    const stderr = []
    child.stdout.on('data', (chunk) => stdout.push(chunk))
    child.stderr.on('data', (chunk) => stderr.push(chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      const text = (chunks) => (encoding === 'buffer' ? Buffer.concat(chunks) : Buffer.concat(chunks).toString(encoding))
      resolve({ status, signal, timedOut, stdout: text(stdout), stderr: text(stderr) })
    })
  })
}

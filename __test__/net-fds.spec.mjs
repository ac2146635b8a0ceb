// rio-uring/net leaks no file descriptors: this process's fd count (/proc/self/fd) is the same
// after 10,000 connect/echo/close cycles, and after connects and listens that fail. Alone in its
// file, and serial, because the count covers everything the process has open. Runs on the
// backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import { listen, connect } from 'rio-uring/net'
import { eventually, rejectionOf } from './support.mjs'
import { HOST, closedPort, recvExactly, rioEchoServer, settledWithin, within } from './net-support.mjs'

/** Fds the process may open or close meanwhile for reasons of its own (ava's IPC, libuv). */
const FD_MARGIN = 4

function openFds() {
  return fs.readdirSync('/proc/self/fd').length
}

/**
 * The threads backend's pool threads: each holds an eventfd of its own, and a loaded machine
 * (CI, with other test files running) starts more of them during the cycles than the warm-up
 * did. Their fds are not leaks, so the count discounts them.
 */
function poolThreads() {
  let threads = 0
  for (const task of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === 'rio-threads') threads++
    } catch {
      // The thread exited meanwhile.
    }
  }
  return threads
}

/** Open fds and pool threads, sampled together. */
function fdsAndPoolThreads() {
  return { fds: openFds(), pool: poolThreads() }
}

function assertFdsUnchanged(t, before, after) {
  const grown = after.fds - before.fds - (after.pool - before.pool)
  t.true(
    Math.abs(grown) <= FD_MARGIN,
    `${before.fds} fds open before (${before.pool} pool threads), ${after.fds} after (${after.pool} pool threads)`,
  )
}

async function echoCycle(port, index) {
  const message = Buffer.from(`cycle ${index}`)
  const connection = await connect({ host: HOST, port })
  try {
    await connection.send(message)
    const reply = await recvExactly(connection, message.length)
    if (!reply.equals(message)) throw new Error(`cycle ${index}: the echo differs from what was sent`)
  } finally {
    await connection.close()
  }
}

test.serial('10,000 sequential connect/echo/close cycles leave the fd count unchanged', async (t) => {
  const cycles = 10_000
  const { port, failures, open } = await rioEchoServer(t)
  // Warm up first: the network ring, its eventfd and the backend's threads are opened once.
  await within(
    (async () => {
      for (let i = 0; i < 100; i++) await echoCycle(port, i)
    })(),
    5000,
    'the warm-up cycles',
  )
  await eventually(() => open() === 0)
  const before = fdsAndPoolThreads()
  const started = performance.now()
  await within(
    (async () => {
      for (let i = 0; i < cycles; i++) await echoCycle(port, i)
    })(),
    // A guard against a hang, not a speed test: alone, the cycles take ~4 s on io_uring and
    // ~15 s on threads (a pool hop per op) on the 2-core dev machine.
    90_000,
    `${cycles} cycles`,
  )
  t.log(`${cycles} cycles in ${Math.round(performance.now() - started)} ms`)
  await eventually(() => open() === 0)
  assertFdsUnchanged(t, before, fdsAndPoolThreads())
  t.deepEqual(failures, [])
})

test.serial('refused connects, listens on a port in use and closed servers leave the fd count unchanged', async (t) => {
  const port = await closedPort()
  const busy = await listen({ host: HOST, port: 0 })
  t.teardown(() => settledWithin(busy.close()))
  await rejectionOf(t, connect({ host: HOST, port }))
  const before = fdsAndPoolThreads()
  for (let i = 0; i < 1000; i++) {
    const refused = await rejectionOf(t, connect({ host: HOST, port }))
    if (refused?.code !== 'ECONNREFUSED') t.fail(`connect ${i}: ${refused?.message}`)
  }
  for (let i = 0; i < 100; i++) {
    const inUse = await rejectionOf(t, listen({ host: HOST, port: busy.port }))
    if (inUse?.code !== 'EADDRINUSE') t.fail(`listen ${i}: ${inUse?.message}`)
  }
  for (let i = 0; i < 100; i++) {
    const server = await listen({ host: HOST, port: 0 })
    const accepting = server.accept()
    await within(server.close(), 5000, 'server.close()')
    await within(accepting, 5000, 'the accept')
  }
  assertFdsUnchanged(t, before, fdsAndPoolThreads())
})

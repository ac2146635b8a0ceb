// rio-uring/net echo round trips with 1, 64 and 1000 connections at once: rio on both ends, a
// rio server with node:net clients, and a node:net server with rio clients. Every connection
// sends its own seeded bytes and checks that exactly those come back. Each test runs on a ring of
// its own, so a stall at one scale cannot hold up the others. Runs on the backend
// RIO_URING_BACKEND names.
import test from 'ava'
import { nodeEchoServer, nodeRoundTrips, ownRing, rioEchoServer, rioRoundTrips, within } from './net-support.mjs'

/** Runs `run(index)` for `count` indexes at once; fails after 30 s instead of hanging. */
function concurrently(count, run) {
  return within(
    Promise.all(Array.from({ length: count }, (_, index) => run(index))),
    30_000,
    `${count} concurrent connections`,
  )
}

/** A ring with room for 1000 connections to have a receive in flight on each end. */
function bigRing(t) {
  return ownRing(t, { entries: 4096 })
}

for (const connections of [1, 64, 1000]) {
  test(`${connections} concurrent connections from rio clients to a rio echo server each get their own bytes back`, async (t) => {
    const ring = bigRing(t)
    const { port, failures } = await rioEchoServer(t, { ring })
    await concurrently(connections, (seed) => rioRoundTrips(port, seed, { ring }))
    t.deepEqual(failures, [])
  })

  test(`${connections} concurrent connections from node:net clients to a rio echo server each get their own bytes back`, async (t) => {
    const ring = bigRing(t)
    const { port, failures } = await rioEchoServer(t, { ring })
    await concurrently(connections, (seed) => nodeRoundTrips(port, seed))
    t.deepEqual(failures, [])
  })

  test(`${connections} concurrent connections from rio clients to a node:net echo server each get their own bytes back`, async (t) => {
    const ring = bigRing(t)
    const { port } = await nodeEchoServer(t)
    await concurrently(connections, (seed) => rioRoundTrips(port, seed, { ring }))
    t.pass()
  })
}

// More ops at once than the ring has slots: the surplus waits for a slot and every op still
// completes with the right result. Kept apart from the other specs because a ring that mishandles
// its waiting ops can loop forever inside one completion batch, which takes its test process down.
// Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import { Ordering } from 'rio-uring'
import { eventually, fileWith, openRing, pattern } from './support.mjs'

const BLOCK_BYTES = 4096

test('new Ring({ entries: 1 }) runs 10 nops at once through its 2 slots', async (t) => {
  const ring = openRing(t, { entries: 1 })
  const results = await Promise.all(Array.from({ length: 10 }, () => ring.nop()))
  t.deepEqual(results, Array(10).fill(undefined))
  const stats = ring.stats()
  t.is(stats.completed, 10)
  t.is(stats.inFlight, 0)
  t.is(stats.waiting, 0)
})

for (const entries of [64, undefined]) {
  test(`5000 concurrent 4 KiB reads on a ring of ${entries ?? 'default'} entries all read their own block`, async (t) => {
    const ring = openRing(t, entries === undefined ? undefined : { entries })
    const count = 5000
    const contents = pattern(count * BLOCK_BYTES, 42)
    const { fd } = fileWith(t, contents, 'r')
    const buffers = Array.from({ length: count }, () => Buffer.alloc(BLOCK_BYTES))
    const reads = buffers.map((buffer, i) => ring.readAt(fd, buffer, i * BLOCK_BYTES))
    const started = ring.stats()
    t.is(started.inFlight, count)
    t.true(started.waiting > 0, 'the ring has as many slots as ops: the test proves nothing')
    t.deepEqual(await Promise.all(reads), Array(count).fill(BLOCK_BYTES))
    for (let i = 0; i < count; i++) {
      if (!buffers[i].equals(contents.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES))) return t.fail(`read ${i} got another block's bytes`)
    }
    const done = ring.stats()
    t.is(done.inFlight, 0)
    t.is(done.waiting, 0)
    t.is(done.submitted, count)
    t.is(done.completed, count)
  })
}

test('300 writes larger than a staging slot on a ring of 16 entries all land', async (t) => {
  const ring = openRing(t, { entries: 16 })
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  const chunkBytes = 100 * 1024
  const chunks = Array.from({ length: 300 }, (_, i) => pattern(chunkBytes, i))
  const written = await Promise.all(chunks.map((chunk, i) => ring.writeAt(fd, chunk, i * chunkBytes)))
  t.deepEqual(written, Array(300).fill(chunkBytes))
  t.true(fs.readFileSync(file).equals(Buffer.concat(chunks)))
})

test('ops queued for a slot keep their order: writes to one offset end with the last one', async (t) => {
  const ring = openRing(t, { entries: 1 })
  const { file, fd } = fileWith(t, Buffer.alloc(0))
  // Drain: each write waits for the ones before it, so the last one issued is the last applied.
  for (let round = 0; round < 3; round++) {
    const writes = []
    for (let i = 0; i < 20; i++) writes.push(ring.writeAt(fd, Buffer.from(`w${String(i).padStart(2, '0')}`), 0, { ordering: Ordering.Drain }))
    await Promise.all(writes)
    t.is(fs.readFileSync(file, 'latin1'), 'w19')
  }
})

test('an op waiting for a slot rejects with AbortError as soon as its signal aborts', async (t) => {
  const ring = openRing(t, { entries: 1 })
  const controller = new AbortController()
  // Two long timers hold both slots; the third op waits for one.
  const timers = [ring.timeout(60_000, { signal: controller.signal }), ring.timeout(60_000, { signal: controller.signal })]
  const waiting = ring.nop({ signal: controller.signal })
  t.is(ring.stats().waiting, 1)
  const aborted = performance.now()
  controller.abort()
  const errors = await Promise.all([...timers, waiting].map((promise) => promise.catch((error) => error)))
  t.true(performance.now() - aborted < 5000, 'the waiting op settled only after a slot freed')
  t.deepEqual(errors.map((error) => error.name), ['AbortError', 'AbortError', 'AbortError'])
  await eventually(() => ring.stats().inFlight === 0)
  t.is(ring.stats().waiting, 0)
  t.is(await ring.nop(), undefined)
})

test('an op waiting for a slot rejects with AbortError while the ops ahead of it keep running', async (t) => {
  const ring = openRing(t, { entries: 1 })
  const controller = new AbortController()
  // Settled (with ECANCELED) when the ring closes; caught now, so a failed assertion leaves no
  // unhandled rejection behind.
  const timers = [ring.timeout(60_000), ring.timeout(60_000)].map((timer) => timer.catch((error) => error))
  const waiting = ring.nop({ signal: controller.signal })
  setTimeout(() => controller.abort(), 20)
  const error = await Promise.race([
    waiting.then(
      () => new Error('the aborted op resolved'),
      (rejection) => rejection,
    ),
    new Promise((resolve) => setTimeout(() => resolve(new Error('still waiting 5 s after the abort')), 5000)),
  ])
  t.is(error.name, 'AbortError', error.message)
  t.is(ring.stats().waiting, 0)
  t.is(ring.stats().inFlight, 2)
  await ring.close()
  for (const timer of timers) t.is((await timer).code, 'ECANCELED')
})

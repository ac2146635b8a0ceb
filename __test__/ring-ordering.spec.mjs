// Ordering of ops submitted in the same tick: Link (the next op waits for this one, and is
// cancelled with ECANCELED when it fails, a short read or write included), HardLink (the chain
// goes on after a failure) and Drain (waits for everything before, holds back everything after).
// Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import { Ordering } from 'rio-uring'
import { BAD_FD, fileWith, openRing, pattern, rejectionOf } from './support.mjs'

const { Link, HardLink, Drain } = Ordering

test('Ordering names the four orderings', (t) => {
  t.deepEqual({ ...Ordering }, { None: 0, Link: 1, HardLink: 2, Drain: 3 })
  t.true(Object.isFrozen(Ordering))
})

test('a read linked after a write in the same tick sees the written data', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.alloc(64 * 4096))
  // Many pairs at once, so a read that overtook its write would show.
  const pairs = 64
  const written = Array.from({ length: pairs }, (_, i) => pattern(4096, i + 1))
  const read = Array.from({ length: pairs }, () => Buffer.alloc(4096))
  const results = []
  for (let i = 0; i < pairs; i++) {
    results.push(ring.writeAt(fd, written[i], i * 4096, { ordering: Link }))
    results.push(ring.readAt(fd, read[i], i * 4096))
  }
  t.deepEqual(await Promise.all(results), Array(pairs * 2).fill(4096))
  for (let i = 0; i < pairs; i++) t.true(read[i].equals(written[i]), `pair ${i}: the read did not see its linked write`)
})

test('a 1 MiB read linked after a 1 MiB write sees the written data', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.alloc(0))
  const data = pattern(1 << 20, 5)
  const back = Buffer.alloc(1 << 20)
  const [written, read] = await Promise.all([ring.writeAt(fd, data, 0, { ordering: Link }), ring.readAt(fd, back, 0)])
  t.is(written, 1 << 20)
  t.is(read, 1 << 20)
  t.true(back.equals(data))
})

test('a chain of write → fdatasync → read runs in order', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.alloc(0))
  const back = Buffer.alloc(5)
  const results = await Promise.all([
    ring.writeAt(fd, Buffer.from('chain'), 0, { ordering: Link }),
    ring.fdatasync(fd, { ordering: Link }),
    ring.readAt(fd, back, 0),
  ])
  t.deepEqual(results, [5, undefined, 5])
  t.is(back.toString(), 'chain')
})

test('when a Link op fails, the rest of its chain rejects with ECANCELED and does not run', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('unchanged'))
  const failing = ring.readAt(BAD_FD, Buffer.alloc(4), 0, { ordering: Link })
  const write = ring.writeAt(fd, Buffer.from('CHANGED!!'), 0, { ordering: Link })
  const last = ring.nop()
  const failure = await rejectionOf(t, failing)
  t.is(failure.code, 'EBADF')
  for (const [syscall, promise] of [['write', write], ['nop', last]]) {
    const error = await rejectionOf(t, promise)
    t.is(error.code, 'ECANCELED', syscall)
    t.is(error.errno, -125)
    t.is(error.syscall, syscall)
    t.is(error.message, `ECANCELED: operation canceled, ${syscall}`)
  }
  t.is(fs.readFileSync(file, 'latin1'), 'unchanged', 'a cancelled write reached the file')
  // The chain ends with the op that had no Link: the next op runs normally.
  t.is(await ring.nop(), undefined)
})

test('a short read breaks a Link chain: the next op rejects with ECANCELED', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.from('ten bytes!'))
  const short = ring.readAt(fd, Buffer.alloc(4096), 0, { ordering: Link })
  const next = ring.nop()
  t.is(await short, 10)
  t.is((await rejectionOf(t, next)).code, 'ECANCELED')
})

test('when a HardLink op fails, the next op still runs after it', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('unchanged'))
  const failing = ring.readAt(BAD_FD, Buffer.alloc(4), 0, { ordering: HardLink })
  const write = ring.writeAt(fd, Buffer.from('CHANGED!!'), 0, { ordering: HardLink })
  const read = Buffer.alloc(9)
  const check = ring.readAt(fd, read, 0)
  t.is((await rejectionOf(t, failing)).code, 'EBADF')
  t.is(await write, 9)
  t.is(await check, 9)
  t.is(read.toString(), 'CHANGED!!', 'the read after the hard-linked write did not see it')
  t.is(fs.readFileSync(file, 'latin1'), 'CHANGED!!')
})

test('a HardLink short read does not break the chain', async (t) => {
  const ring = openRing(t)
  const { fd } = fileWith(t, Buffer.from('ten bytes!'))
  const short = ring.readAt(fd, Buffer.alloc(4096), 0, { ordering: HardLink })
  const next = ring.nop()
  t.is(await short, 10)
  t.is(await next, undefined)
})

test('a timeout linked to the next op delays it: the timer resolves, so the chain goes on', async (t) => {
  // The timeout resolves (its expiry is its success), and Link promises the next op starts once
  // this one succeeds: a sleep-then-act chain.
  const ring = openRing(t)
  const started = performance.now()
  const [timer, next] = await Promise.allSettled([ring.timeout(50, { ordering: Link }), ring.nop()])
  t.is(timer.status, 'fulfilled')
  t.is(next.status, 'fulfilled', `the op linked after the timer: ${next.reason?.code}`)
  t.true(performance.now() - started >= 49)
})

test('a Drain op starts only after every earlier op completed, and holds back later ops', async (t) => {
  const ring = openRing(t)
  const order = []
  const track = (name, promise) => promise.then(() => order.push(name))
  await Promise.all([
    track('timer', ring.timeout(100)),
    track('drain', ring.nop({ ordering: Drain })),
    track('after', ring.nop()),
  ])
  t.deepEqual(order, ['timer', 'drain', 'after'])
})

test('without ordering, a nop does not wait for a timer submitted before it', async (t) => {
  const ring = openRing(t)
  const order = []
  await Promise.all([ring.timeout(100).then(() => order.push('timer')), ring.nop().then(() => order.push('nop'))])
  t.deepEqual(order, ['nop', 'timer'])
})

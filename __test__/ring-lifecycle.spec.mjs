// A ring's life around its ops: timeouts, stats(), AbortSignal, Symbol.asyncDispose, the default
// ring, loading the package from CommonJS, and a process with an idle ring exiting on its own.
// Runs on the backend RIO_URING_BACKEND names.
import test from 'ava'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { AsyncLocalStorage, createHook } from 'node:async_hooks'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { AbortError, Ring, defaultRing } from 'rio-uring'
import { connectedPair, eventually, fileWith, openRing, rejectionOf, runProcess, tempDir } from './support.mjs'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

/** Runs `source` as an ES module in a fresh node from the package root. */
function runModule(source) {
  return runProcess(process.execPath, ['--input-type=module', '-e', source], { cwd: root, timeoutMs: 20_000 })
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

// ---- timeout ------------------------------------------------------------------------------------

test('timeout resolves to undefined only once its time has passed', async (t) => {
  const ring = openRing(t)
  const started = performance.now()
  t.is(await ring.timeout(150), undefined)
  const elapsed = performance.now() - started
  t.true(elapsed >= 149, `resolved after ${elapsed.toFixed(1)} ms`)
})

test('timeout is still pending before its time', async (t) => {
  const ring = openRing(t)
  const timer = ring.timeout(400)
  t.true(await stillPending(timer, 100), 'a 400 ms timeout settled within 100 ms')
  await timer
})

test('timeouts settle in the order of their durations, not of their submission', async (t) => {
  const ring = openRing(t)
  const order = []
  await Promise.all([300, 100, 200].map((ms) => ring.timeout(ms).then(() => order.push(ms))))
  t.deepEqual(order, [100, 200, 300])
})

test('timeout(0) and fractional timeouts resolve', async (t) => {
  const ring = openRing(t)
  t.is(await ring.timeout(0), undefined)
  const started = performance.now()
  await ring.timeout(20.5)
  t.true(performance.now() - started >= 19)
})

// ---- stats --------------------------------------------------------------------------------------

test('stats() of a new ring counts nothing', (t) => {
  const ring = openRing(t)
  const stats = ring.stats()
  t.like(stats, { backend: ring.backend, submitted: 0, completed: 0, inFlight: 0, waiting: 0, flushes: 0 })
  t.is(stats.latency, undefined, 'latency without profile: true')
})

test('stats() counts ops submitted, completed and in flight', async (t) => {
  const ring = openRing(t)
  // Long enough that a loaded machine finishes the nops first (200 ms was not, once, in CI).
  const timer = ring.timeout(2000)
  const nops = Array.from({ length: 9 }, () => ring.nop())
  t.is(ring.stats().inFlight, 10)
  await Promise.all(nops)
  const midway = ring.stats()
  t.is(midway.inFlight, 1, 'the timer is still in flight')
  t.is(midway.submitted, 10)
  t.is(midway.completed, 9)
  await timer
  t.like(ring.stats(), { submitted: 10, completed: 10, inFlight: 0, waiting: 0 })
})

test('ops started in one tick reach the kernel in one flush', async (t) => {
  const ring = openRing(t)
  await Promise.all(Array.from({ length: 100 }, () => ring.nop()))
  t.is(ring.stats().flushes, 1)
  await Promise.all(Array.from({ length: 100 }, () => ring.nop()))
  t.is(ring.stats().flushes, 2)
})

test('stats() of a ring made with profile: true has latency percentiles', async (t) => {
  const ring = openRing(t, { profile: true })
  const { fd } = fileWith(t, Buffer.alloc(4096))
  await Promise.all(Array.from({ length: 50 }, () => ring.readAt(fd, Buffer.alloc(4096), 0)))
  const { latency } = ring.stats()
  t.truthy(latency)
  t.is(latency.count, 50)
  t.true(latency.p50Us >= 0)
  t.true(latency.p50Us <= latency.p90Us && latency.p90Us <= latency.p99Us && latency.p99Us <= latency.maxUs, JSON.stringify(latency))
})

// ---- AbortSignal --------------------------------------------------------------------------------

test('an op given an already-aborted signal rejects with AbortError and submits nothing', async (t) => {
  const ring = openRing(t)
  const reason = new Error('changed my mind')
  const signal = AbortSignal.abort(reason)
  const { fd } = fileWith(t, Buffer.from('data'))
  for (const call of [() => ring.nop({ signal }), () => ring.readAt(fd, Buffer.alloc(4), 0, { signal }), () => ring.timeout(10, { signal }), () => ring.open('/tmp', 'r', 0o666, { signal })]) {
    let promise
    t.notThrows(() => (promise = call()))
    const error = await rejectionOf(t, promise)
    t.true(error instanceof Error)
    t.true(error instanceof AbortError)
    t.is(error.name, 'AbortError')
    t.is(error.code, 'ABORT_ERR')
    t.is(error.cause, reason)
  }
  t.like(ring.stats(), { submitted: 0, inFlight: 0 })
})

test('AbortError has the name, code and message fs/promises gives an aborted call', async (t) => {
  const ring = openRing(t)
  const { file } = fileWith(t, Buffer.from('data'))
  const signal = AbortSignal.abort()
  const expected = await rejectionOf(t, fsp.readFile(file, { signal }))
  const error = await rejectionOf(t, ring.nop({ signal }))
  t.is(error.name, expected.name)
  t.is(error.code, expected.code)
  t.is(error.message, expected.message)
  t.is(error.cause, signal.reason)
})

test('aborting a pending recv rejects it promptly with AbortError; the socket and the ring stay usable', async (t) => {
  const ring = openRing(t)
  const { server, client } = await connectedPair(t, ring)
  const controller = new AbortController()
  const pending = ring.recv(server, Buffer.alloc(16), { signal: controller.signal })
  t.true(await stillPending(pending, 50))
  const aborted = performance.now()
  controller.abort()
  const error = await rejectionOf(t, pending)
  t.true(performance.now() - aborted < 2000, 'the abort took more than 2 s to settle the recv')
  t.is(error.name, 'AbortError')
  t.is(error.code, 'ABORT_ERR')
  t.is(error.cause, controller.signal.reason)
  // The cancelled recv took none of the data sent after it.
  await ring.send(client, Buffer.from('after'))
  const buffer = Buffer.alloc(16)
  t.is(await ring.recv(server, buffer), 5)
  t.is(buffer.subarray(0, 5).toString(), 'after')
  await eventually(() => ring.stats().inFlight === 0)
  t.like(ring.stats(), { inFlight: 0, waiting: 0 })
})

test('aborting a long timeout rejects it long before its time', async (t) => {
  const ring = openRing(t)
  const controller = new AbortController()
  const started = performance.now()
  const timer = ring.timeout(60_000, { signal: controller.signal })
  setTimeout(() => controller.abort(), 20)
  t.is((await rejectionOf(t, timer)).name, 'AbortError')
  t.true(performance.now() - started < 5000)
  await eventually(() => ring.stats().inFlight === 0)
  t.is(await ring.nop(), undefined)
})

test('one signal aborts every op it was given', async (t) => {
  const ring = openRing(t)
  const controller = new AbortController()
  const { signal } = controller
  const timers = [ring.timeout(60_000, { signal }), ring.timeout(60_000, { signal }), ring.timeout(60_000, { signal })]
  const unrelated = ring.timeout(10)
  await new Promise((resolve) => setTimeout(resolve, 20))
  controller.abort()
  for (const timer of timers) t.is((await rejectionOf(t, timer)).name, 'AbortError')
  t.is(await unrelated, undefined)
  await eventually(() => ring.stats().inFlight === 0)
})

test('aborting after the op has completed changes nothing', async (t) => {
  const ring = openRing(t)
  const controller = new AbortController()
  const { fd } = fileWith(t, Buffer.from('done'))
  const buffer = Buffer.alloc(4)
  t.is(await ring.readAt(fd, buffer, 0, { signal: controller.signal }), 4)
  controller.abort()
  t.is(buffer.toString(), 'done')
  t.is(await ring.nop(), undefined)
  t.like(ring.stats(), { inFlight: 0, completed: 2 })
})

// ---- rings and threads --------------------------------------------------------------------------

test('two rings in one thread run ops side by side, each counting its own', async (t) => {
  const first = openRing(t)
  const second = openRing(t)
  const { fd } = fileWith(t, Buffer.from('0123456789'))
  const a = Buffer.alloc(5)
  const b = Buffer.alloc(5)
  t.deepEqual(await Promise.all([first.readAt(fd, a, 0), second.readAt(fd, b, 5), first.timeout(10), second.nop()]), [5, 5, undefined, undefined])
  t.is(a.toString() + b.toString(), '0123456789')
  t.is(first.stats().completed, 2)
  t.is(second.stats().completed, 2)
})

test('a worker thread has rings of its own, its default ring included', async (t) => {
  const { fd } = fileWith(t, Buffer.from('from a worker'))
  const source = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { Ring, defaultRing } = require('rio-uring')
    ;(async () => {
      const buffer = Buffer.alloc(13)
      const count = await defaultRing().readAt(workerData.fd, buffer, 0)
      const ring = new Ring()
      await ring.timeout(5)
      const backend = ring.backend
      await ring.close()
      parentPort.postMessage({ count, text: buffer.toString(), backend, defaultBackend: defaultRing().backend })
    })().catch((error) => parentPort.postMessage({ error: error.stack }))
  `
  const worker = new Worker(source, { eval: true, workerData: { fd } })
  const messages = []
  worker.on('message', (message) => messages.push(message))
  const [code] = await once(worker, 'exit')
  t.is(code, 0)
  t.is(messages.length, 1, 'the worker exited without reporting')
  const [message] = messages
  t.is(message.error, undefined)
  t.is(message.count, 13)
  t.is(message.text, 'from a worker')
  t.is(message.backend, defaultRing().backend)
  t.is(message.defaultBackend, defaultRing().backend)
})

// ---- async context ------------------------------------------------------------------------------

test('AsyncLocalStorage keeps its store across an await of a ring op', async (t) => {
  const ring = openRing(t)
  const storage = new AsyncLocalStorage()
  const { fd } = fileWith(t, Buffer.from('ctx'))
  const seen = await Promise.all(
    ['a', 'b', 'c'].map((store) =>
      storage.run(store, async () => {
        await ring.readAt(fd, Buffer.alloc(3), 0)
        const afterRead = storage.getStore()
        await ring.timeout(5)
        return [afterRead, storage.getStore()]
      }),
    ),
  )
  t.deepEqual(seen, [['a', 'a'], ['b', 'b'], ['c', 'c']])
})

test('nextTick, microtasks and immediates run after `await ring.readAt` in the order they run after `await fh.read`', async (t) => {
  const ring = openRing(t)
  const { file, fd } = fileWith(t, Buffer.from('order'))
  const handle = await fsp.open(file, 'r')
  t.teardown(() => handle.close())
  /** What runs, in order, once `read` resolves and its continuation queues one of each. */
  async function trace(read) {
    const events = []
    const storage = new AsyncLocalStorage()
    await storage.run('ctx', async () => {
      await read()
      events.push(`resumed ${storage.getStore()}`)
      process.nextTick(() => events.push(`nextTick ${storage.getStore()}`))
      queueMicrotask(() => events.push(`microtask ${storage.getStore()}`))
      setImmediate(() => events.push(`immediate ${storage.getStore()}`))
      Promise.resolve().then(() => events.push('then'))
    })
    events.push('awaited')
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    return events
  }
  const node = await trace(() => handle.read(Buffer.alloc(5), 0, 5, 0))
  const rio = await trace(() => ring.readAt(fd, Buffer.alloc(5), 0))
  t.deepEqual(rio, node)
  t.deepEqual(node.slice(0, 1), ['resumed ctx'])
})

test('an op started by a promise hook while another op makes its promise leaves each op its own result', async (t) => {
  // async_hooks' init runs inside `new Promise`, before the executor: an op started there makes
  // a promise of its own in the middle of the first op's.
  const outerRing = openRing(t)
  const hookRing = openRing(t)
  const { fd } = fileWith(t, Buffer.from('outer-inner'))
  let armed = false
  let inner = null
  const hook = createHook({
    init(id, type) {
      if (!armed || type !== 'PROMISE') return
      armed = false
      inner = hookRing.readAt(fd, Buffer.alloc(5), 6)
    },
  }).enable()
  t.teardown(() => hook.disable())
  armed = true
  const outer = outerRing.readAt(fd, Buffer.alloc(3), 0)
  armed = false
  hook.disable()
  t.not(inner, null, 'the hook started its op')
  t.deepEqual(await Promise.all([outer, inner]), [3, 5])
})

// ---- closing ------------------------------------------------------------------------------------

test('Symbol.asyncDispose closes the ring', async (t) => {
  const ring = new Ring()
  t.is(typeof ring[Symbol.asyncDispose], 'function')
  await ring.nop()
  await ring[Symbol.asyncDispose]()
  t.true(ring.closed)
  t.is((await rejectionOf(t, ring.nop())).code, 'ERR_INVALID_STATE')
})

test('`await using` closes the ring at the end of the block', async (t) => {
  // Node 20 cannot parse `await using`; the package's TypeScript runner (tsx) lowers it.
  const dir = tempDir(t)
  const script = path.join(dir, 'using.ts')
  const source = [
    "import { Ring } from 'rio-uring'",
    'async function main(): Promise<void> {',
    '  let kept: Ring',
    '  {',
    '    await using ring = new Ring()',
    '    kept = ring',
    '    await ring.nop()',
    "    console.log('inside', ring.closed)",
    '  }',
    "  console.log('after', kept.closed)",
    '}',
    'void main()',
  ].join('\n')
  // The script imports the package the way a dependent project does: from its node_modules.
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'rio-uring'))
  fs.writeFileSync(script, source)
  const run = await runProcess(process.execPath, [path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), script], { cwd: dir })
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout, 'inside false\nafter true\n')
})

test('defaultRing() is one ring per thread, replaced once closed', async (t) => {
  const ring = defaultRing()
  t.is(defaultRing(), ring)
  t.true(ring instanceof Ring)
  t.is(await ring.nop(), undefined)
  await ring.close()
  const next = defaultRing()
  t.not(next, ring)
  t.false(next.closed)
  t.is(await next.nop(), undefined)
})

// ---- loading and process life -------------------------------------------------------------------

test("require('rio-uring') from CommonJS gives the same Ring the ES import gives", async (t) => {
  const required = createRequire(import.meta.url)('rio-uring')
  t.is(required.Ring, Ring)
  t.deepEqual({ ...required.Ordering }, { None: 0, Link: 1, HardLink: 2, Drain: 3 })
  const run = await runProcess(
    process.execPath,
    ['-e', "const { Ring, Ordering } = require('rio-uring'); const ring = new Ring(); ring.nop().then(() => { console.log(ring.backend, Ordering.Link); return ring.close() })"],
    { cwd: root },
  )
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout, `${new Ring().backend} 1\n`)
})

test('a process whose ring is idle exits on its own, without closing the ring', async (t) => {
  const run = await runModule("import { Ring } from 'rio-uring'; const ring = new Ring(); await ring.nop(); console.log('idle')")
  t.false(run.timedOut, 'the process did not exit within 20 s')
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout, 'idle\n')
})

test('a pending op keeps the process alive until it completes', async (t) => {
  const run = await runModule("import { Ring } from 'rio-uring'; const ring = new Ring(); ring.timeout(300).then(() => console.log('fired'))")
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout, 'fired\n')
})

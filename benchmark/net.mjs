// The network rows of `npm run bench`: echo ping-pong (128 B) with 64, 256 and 1000 connections
// against a rio-uring/net server, a node:net server and an echo server written directly on
// crates/rio, and node:http over rio against plain node:http. The load comes from a separate
// process (benchmark/net's Rust `loadgen`, one thread over io_uring) so the client is not the
// bottleneck. Each server runs in its own process; every figure is a median of `runs` runs, the
// servers compared in a row taking their loads in turn.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const release = path.join(root, 'target', 'release')

function buildTools(log) {
  log('  building benchmark/net (loadgen, echo-rio)...')
  execFileSync('cargo', ['build', '--release', '-q', '-p', 'rio-bench-net'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
}

/** Starts a server process; resolves to { port, stop() } once it prints its port. */
async function startServer(command, args) {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const [line] = await once(lines, 'line')
  return {
    port: Number(line),
    stop: async () => {
      child.kill('SIGKILL')
      await once(child, 'exit')
    },
  }
}

function load(protocol, port, connections, seconds) {
  const out = execFileSync(path.join(release, 'loadgen'), [protocol, `127.0.0.1:${port}`, String(connections), String(seconds), '128'], { encoding: 'utf8' })
  return JSON.parse(out).round_trips_per_sec
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]

/**
 * The median round trips per second of each server `starts` names, over `runs` loads of `seconds`
 * each. The servers run side by side (an idle one costs nothing) and take their loads in turn,
 * run after run, so a machine that speeds up or slows down meanwhile (a VM's neighbours) weighs
 * on all of them alike rather than on whichever was measured then.
 */
async function measureServers(starts, protocol, connections, runs, seconds) {
  const servers = {}
  for (const [name, start] of Object.entries(starts)) servers[name] = await start()
  const samples = Object.fromEntries(Object.keys(servers).map((name) => [name, []]))
  try {
    for (let i = 0; i < runs; i++) {
      for (const [name, server] of Object.entries(servers)) samples[name].push(load(protocol, server.port, connections, seconds))
    }
  } finally {
    for (const server of Object.values(servers)) await server.stop()
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]))
}

const jsServer = (impl) => () => startServer(process.execPath, ['benchmark/servers.mjs', impl])

/** Measures every server at every connection count; adds rows through `row`. */
export async function netCase({ runs, quick, row, log }) {
  buildTools(log)
  const seconds = quick ? 1 : 3
  const servers = {
    rio: jsServer('rio-echo'),
    node: jsServer('node-echo'),
    rust: () => startServer(path.join(release, 'echo-rio'), ['127.0.0.1:0']),
  }
  for (const connections of [64, 256, 1000]) {
    // At 256 connections, also the server as users usually write it: `for await (const chunk of
    // connection)`, with single-shot receives (the default) and with multishotReceive.
    const variants = connections === 256 ? { 'for await': jsServer('rio-echo-iter'), 'for await + multishotReceive': jsServer('rio-echo-iter-multishot') } : {}
    const rates = await measureServers({ ...servers, ...variants }, 'echo', connections, runs, seconds)
    for (const [name, rate] of Object.entries(rates)) log(`  echo ${connections} connections, ${name}: ${rate.toFixed(0)}/s`)
    const label = `128 B echo, ${connections} connections`
    row(label, rates.rio, 'node:net echo', rates.node, connections === 256 ? '≥ 1.5×' : '')
    row(label, rates.rio, 'Rust echo on crates/rio', rates.rust, connections === 256 ? '≥ 0.85×' : '')
    for (const variant of Object.keys(variants)) {
      row(`${label}, ${variant}`, rates[variant], 'node:net echo', rates.node, 'reported')
      row(`${label}, ${variant}`, rates[variant], 'Rust echo on crates/rio', rates.rust, 'reported')
    }
  }
  const http = await measureServers({ 'rio-http': jsServer('rio-http'), 'node-http': jsServer('node-http') }, 'http', 256, runs, seconds)
  for (const [name, rate] of Object.entries(http)) log(`  http 256 connections, ${name}: ${rate.toFixed(0)}/s`)
  row('node:http GET, 256 connections', http['rio-http'], 'plain node:http', http['node-http'], 'reported')
}

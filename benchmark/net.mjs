// The network rows of `npm run bench`: echo ping-pong (128 B) with 64, 256 and 1000 connections
// against a rio-uring/net server, a node:net server and an echo server written directly on
// crates/rio, and node:http over rio against plain node:http. The load comes from a separate
// process (benchmark/net's Rust `loadgen`, one thread over io_uring) so the client is not the
// bottleneck. Each server runs in its own process; every figure is a median of `runs` runs.
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

/** The median round trips per second of `runs` loads of `seconds` on a server `start()` gives. */
async function measureServer(start, protocol, connections, runs, seconds) {
  const server = await start()
  const samples = []
  for (let i = 0; i < runs; i++) samples.push(load(protocol, server.port, connections, seconds))
  await server.stop()
  return median(samples)
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
    const rates = {}
    for (const [name, start] of Object.entries(servers)) {
      rates[name] = await measureServer(start, 'echo', connections, runs, seconds)
      log(`  echo ${connections} connections, ${name}: ${rates[name].toFixed(0)}/s`)
    }
    const label = `128 B echo, ${connections} connections`
    row(label, rates.rio, 'node:net echo', rates.node, connections === 256 ? '≥ 1.5×' : '')
    row(label, rates.rio, 'Rust echo on crates/rio', rates.rust, connections === 256 ? '≥ 0.85×' : '')
    if (connections === 256) {
      // The same server as users usually write it: `for await (const chunk of connection)`, with
      // single-shot receives (the default) and with multishotReceive.
      for (const [impl, variant] of [
        ['rio-echo-iter', 'for await'],
        ['rio-echo-iter-multishot', 'for await + multishotReceive'],
      ]) {
        const rate = await measureServer(jsServer(impl), 'echo', connections, runs, seconds)
        log(`  echo ${connections} connections, rio ${variant}: ${rate.toFixed(0)}/s`)
        row(`${label}, ${variant}`, rate, 'node:net echo', rates.node, 'reported')
        row(`${label}, ${variant}`, rate, 'Rust echo on crates/rio', rates.rust, 'reported')
      }
    }
  }
  const http = {}
  for (const name of ['rio-http', 'node-http']) {
    http[name] = await measureServer(jsServer(name), 'http', 256, runs, seconds)
    log(`  http 256 connections, ${name}: ${http[name].toFixed(0)}/s`)
  }
  row('node:http GET, 256 connections', http['rio-http'], 'plain node:http', http['node-http'], 'reported')
}

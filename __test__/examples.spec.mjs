// The TypeScript examples in examples/ run with one command (`npx tsx examples/NAME.ts`), do what
// they say, and type-check against the package's typings. Each runs small, on the backend
// RIO_URING_BACKEND names (the examples' rings follow it).
import test from 'ava'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { pattern, runProcess, tempDir } from './support.mjs'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const tsxCli = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs')
const backend = process.env.RIO_URING_BACKEND || '(io_uring|threads)'

/** Runs `examples/<name>.ts` with tsx; its exit status and output. */
function runExample(name, args, { cwd = root, encoding = 'utf8' } = {}) {
  return runProcess(process.execPath, [tsxCli, path.join(root, 'examples', `${name}.ts`), ...args], { cwd, encoding, timeoutMs: 90_000 })
}

test('`npx tsx examples/read-file.ts FILE` prints the file to stdout and a summary to stderr', async (t) => {
  const file = path.join(tempDir(t), 'input')
  const contents = pattern(1_500_000, 11)
  fs.writeFileSync(file, contents)
  const run = await runProcess('npx', ['tsx', 'examples/read-file.ts', file], { cwd: root, encoding: 'buffer', timeoutMs: 90_000 })
  t.is(run.status, 0, String(run.stderr))
  t.true(run.stdout.equals(contents), 'stdout differs from the file')
  t.regex(String(run.stderr), new RegExp(`^read-file: 1500000 bytes of ${file} in \\d+ reads .*\\(${backend} backend\\)\\n$`))
})

test('read-file copies an empty file and a file of an exact multiple of its chunk size', async (t) => {
  const dir = tempDir(t)
  for (const size of [0, 8 * 256 * 1024]) {
    const file = path.join(dir, `size-${size}`)
    const contents = pattern(size, 12)
    fs.writeFileSync(file, contents)
    const run = await runExample('read-file', [file], { encoding: 'buffer' })
    t.is(run.status, 0, String(run.stderr))
    t.true(run.stdout.equals(contents), `stdout differs from the ${size}-byte file`)
    t.regex(String(run.stderr), new RegExp(`^read-file: ${size} bytes of `))
  }
})

test('read-file of a missing file exits 1 with the error, and without a file prints its usage', async (t) => {
  const missing = path.join(tempDir(t), 'missing')
  const run = await runExample('read-file', [missing])
  t.is(run.status, 1)
  t.is(run.stdout, '')
  t.is(run.stderr, `read-file: ENOENT: no such file or directory, open '${missing}'\n`)
  const usage = await runExample('read-file', [])
  t.is(usage.status, 2)
  t.regex(usage.stderr, /^usage: npx tsx examples\/read-file\.ts <file>/)
})

test('`npx tsx examples/write-file.ts FILE TEXT...` writes the text durably and reports the size', async (t) => {
  const file = path.join(tempDir(t), 'out.txt')
  fs.writeFileSync(file, 'previous contents that must be truncated')
  const run = await runExample('write-file', [file, 'hello,', 'ring'])
  t.is(run.status, 0, run.stderr)
  t.is(fs.readFileSync(file, 'utf8'), 'hello, ring\n')
  t.regex(run.stdout, new RegExp(`^write-file: wrote 12 bytes to ${file} and synced them; statx says the file holds 12 bytes \\(${backend} backend\\)\\n$`))
})

test('write-file without text writes its default line to a new file', async (t) => {
  const file = path.join(tempDir(t), 'new.txt')
  const run = await runExample('write-file', [file])
  t.is(run.status, 0, run.stderr)
  t.is(fs.readFileSync(file, 'utf8'), 'hello from io_uring\n')
  t.is(fs.statSync(file).mode & 0o777, 0o644 & ~process.umask())
})

test('write-file into a missing directory exits 1 with the error', async (t) => {
  const file = path.join(tempDir(t), 'missing', 'out.txt')
  const run = await runExample('write-file', [file])
  t.is(run.status, 1)
  t.is(run.stderr, `write-file: ENOENT: no such file or directory, open '${file}'\n`)
})

test('`npx tsx examples/o-direct.ts 4 DIR` runs 4 linked O_DIRECT write→read pairs and removes its file', async (t) => {
  const dir = tempDir(t)
  const run = await runExample('o-direct', ['4', dir])
  t.is(run.status, 0, run.stderr)
  t.regex(run.stdout, new RegExp(`^o-direct: 4 linked 1 MiB write→read pairs \\((O_DIRECT|buffered), ${backend} backend\\) in [\\d.]+ s: \\d+ MiB/s, every read matched its write\\n$`))
  if (run.stdout.includes('buffered')) t.regex(run.stderr, /refuses O_DIRECT/)
  t.deepEqual(fs.readdirSync(dir), [], 'the scratch file was left behind')
})

test('o-direct without DIR runs more pairs than one batch in a default directory', async (t) => {
  const cwd = tempDir(t)
  const run = await runExample('o-direct', ['20'], { cwd })
  t.is(run.status, 0, run.stderr)
  t.regex(run.stdout, /^o-direct: 20 linked 1 MiB write→read pairs .*every read matched its write\n$/)
  t.deepEqual(fs.readdirSync(cwd), [])
})

test('o-direct rejects a PAIRS that is not a count', async (t) => {
  const run = await runExample('o-direct', ['many'])
  t.is(run.status, 1)
  t.is(run.stderr, 'o-direct: PAIRS must be a count >= 1, got "many"\n')
})

test('`npx tsx examples/kv-store.ts --self-check DIR` checks its store across reopens and a compaction, and leaves it in DIR', async (t) => {
  const dir = path.join(tempDir(t), 'store')
  const run = await runExample('kv-store', ['--self-check', dir])
  t.is(run.status, 0, run.stderr)
  const summary = /^kv-store: self-check passed: 19200 puts and deletes by 64 concurrent writers, (\d+) live keys, the same after 4 reopens; compaction snapshotted \d+ keys while writes went on and dropped ([1-9]\d*) segments \(the log went from (\d+) KiB to (\d+) KiB\); a snapshot cut short was ignored\n$/.exec(run.stdout)
  t.truthy(summary, run.stdout)
  t.true(Number(summary[4]) < Number(summary[3]), 'compaction shrank the log')
  // Another process replays the same store to the same keys.
  const list = await runExample('kv-store', [dir, 'list'])
  t.is(list.status, 0, list.stderr)
  t.is(list.stdout.split('\n').filter(Boolean).length, Number(summary[1]))
  t.regex(list.stdout, /^key-\d+=round \d writer \d+ op \d+ \.*$/m)
})

test('kv-store put, get, delete, list and compact, each in its own process, see each other\'s durable writes', async (t) => {
  const dir = tempDir(t)
  const kv = (...args) => runExample('kv-store', [dir, ...args])
  t.like(await kv('put', 'b', 'two words'), { status: 0, stdout: '' })
  t.like(await kv('put', 'a', 'first'), { status: 0 })
  t.like(await kv('put', 'a', 'second'), { status: 0 })
  t.like(await kv('get', 'a'), { status: 0, stdout: 'second\n' })
  t.like(await kv('delete', 'b'), { status: 0 })
  t.like(await kv('get', 'b'), { status: 1, stdout: '', stderr: 'kv-store: no key b\n' })
  t.like(await kv('put', 'c', 'ç ü'), { status: 0 })
  t.like(await kv('list'), { status: 0, stdout: 'a=second\nc=ç ü\n' })
  t.like(await kv('compact'), { status: 0, stdout: 'kv-store: compacted 2 live keys; 0 old segments dropped\n' })
  t.like(await kv('list'), { status: 0, stdout: 'a=second\nc=ç ü\n' })
})

test('kv-store without a command, or with a wrong one, prints its usage and exits 2', async (t) => {
  const dir = tempDir(t)
  for (const args of [[], [dir], [dir, 'put', 'only-a-key'], [dir, 'frobnicate']]) {
    const run = await runExample('kv-store', args)
    t.is(run.status, 2, `args ${args.join(' ')}`)
    t.regex(run.stderr, /^usage: npx tsx examples\/kv-store\.ts --self-check \[DIR\]\n/)
  }
})

/**
 * Starts `examples/<name>.ts` as a server: resolves once it prints `listening on <address>`, with
 * the address, a `stop(signal)` that signals it and resolves to its exit status and output, and a
 * teardown that kills it if the test left it running. It runs as `node --import tsx`, one process:
 * the tsx CLI relays a signal to its child but gives up (SIGKILL, exit 128+n) if the child has
 * not taken it within 30 ms, which a loaded machine exceeds.
 */
async function startExample(t, name, args) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'examples', `${name}.ts`), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text))
  child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text))
  const exited = once(child, 'close').then(([status, signal]) => ({ status, signal, stdout, stderr }))
  const listening = new Promise((resolve, reject) => {
    const look = () => {
      const found = /listening on (\S+)/.exec(stdout)
      if (found) resolve(found[1])
    }
    child.stdout.on('data', look)
    exited.then((run) => reject(new Error(`${name} exited before listening: ${JSON.stringify(run)}`)))
    setTimeout(() => reject(new Error(`${name} did not listen within 60 s: ${stdout}${stderr}`)), 60_000).unref()
  })
  const address = await listening
  return {
    address,
    stop(signal = 'SIGTERM') {
      child.kill(signal)
      return exited
    },
  }
}

test('`npx tsx examples/echo-server.ts --port 0 --self-check` echoes 64 connections × 100 round trips and exits 0', async (t) => {
  const run = await runExample('echo-server', ['--port', '0', '--self-check'])
  t.is(run.status, 0, run.stderr)
  t.is(run.stderr, '')
  t.regex(
    run.stdout,
    new RegExp(
      `^echo-server: listening on 127\\.0\\.0\\.1:\\d+ \\(${backend} backend\\)\\n` +
        'echo-server: self-check passed: 64 connections × 100 round trips of 128 bytes in [\\d.]+ s \\(\\d+ round trips/s\\), every echo matched\\n' +
        'echo-server: closed after 64 connections\\n$',
    ),
  )
})

test('echo-server self-check with other counts, on IPv6', async (t) => {
  const run = await runExample('echo-server', ['--host', '::1', '--port', '0', '--self-check', '--connections', '300', '--rounds', '7'])
  t.is(run.status, 0, run.stderr)
  t.regex(run.stdout, /^echo-server: listening on \[::1\]:\d+ /)
  t.regex(run.stdout, /self-check passed: 300 connections × 7 round trips .*\necho-server: closed after 300 connections\n$/)
})

test('echo-server serves node:net clients until SIGTERM, then closes its connections and exits 0', async (t) => {
  const server = await startExample(t, 'echo-server', ['--port', '0'])
  t.regex(server.address, /^127\.0\.0\.1:\d+$/)
  const port = Number(server.address.split(':')[1])
  const idle = net.connect(port, '127.0.0.1')
  idle.on('error', () => {})
  const client = net.connect(port, '127.0.0.1')
  await Promise.all([once(idle, 'connect'), once(client, 'connect')])
  const message = pattern(100_000, 13)
  client.end(message)
  const echoed = []
  for await (const chunk of client) echoed.push(chunk)
  t.true(Buffer.concat(echoed).equals(message), 'the echo differs from what was sent')
  const idleEnded = once(idle, 'end')
  idle.resume()
  const run = await server.stop('SIGTERM')
  t.is(run.status, 0, run.stderr)
  t.regex(run.stdout, /echo-server: closed after 2 connections\n$/)
  await idleEnded
})

test('echo-server on a port in use exits 1 with the listen error', async (t) => {
  const busy = net.createServer().listen(0, '127.0.0.1')
  await once(busy, 'listening')
  t.teardown(() => busy.close())
  const { port } = busy.address()
  const run = await runExample('echo-server', ['--port', String(port)])
  t.is(run.status, 1)
  t.is(run.stdout, '')
  t.is(run.stderr, `echo-server: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`)
})

test('`npx tsx examples/http-server.ts --port 0 --self-check` answers GETs and echoes a POST, then exits 0', async (t) => {
  const run = await runExample('http-server', ['--port', '0', '--self-check'])
  t.is(run.status, 0, run.stderr)
  t.is(run.stderr, '')
  t.regex(
    run.stdout,
    new RegExp(
      `^http-server: listening on http://127\\.0\\.0\\.1:\\d+/ \\(${backend} backend\\)\\n` +
        'http-server: self-check passed: 10 GETs and a 1048576-byte POST echoed back in \\d+ ms\\n' +
        'http-server: closed\\n$',
    ),
  )
})

test('http-server serves fetch requests until SIGTERM, then exits 0', async (t) => {
  const server = await startExample(t, 'http-server', ['--port', '0'])
  t.regex(server.address, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  const got = await fetch(`${server.address}some/path?x=1`)
  t.is(got.status, 200)
  t.is(got.headers.get('content-type'), 'text/plain; charset=utf-8')
  t.is(await got.text(), 'hello from node:http over io_uring: GET /some/path?x=1\n')
  const body = pattern(3_000_000, 14)
  const posted = await fetch(`${server.address}echo`, { method: 'POST', body, headers: { 'content-type': 'application/x-test' } })
  t.is(posted.headers.get('content-type'), 'application/x-test')
  t.true(Buffer.from(await posted.arrayBuffer()).equals(body), 'the echoed body differs')
  const run = await server.stop('SIGTERM')
  t.is(run.status, 0, run.stderr)
  t.regex(run.stdout, /http-server: closed\n$/)
})

test('the examples type-check against the package typings', async (t) => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const files = fs.readdirSync(path.join(root, 'examples')).filter((name) => name.endsWith('.ts')).map((name) => path.join('examples', name))
  t.true(files.length >= 4)
  const run = await runProcess(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--lib', 'es2023,esnext.disposable', '--types', 'node', '--skipLibCheck', ...files],
    { cwd: root, timeoutMs: 90_000 },
  )
  t.is(run.status, 0, run.stdout + run.stderr)
})

// The published shape: the root package and the linux-x64-gnu binary package, packed and
// installed into a fresh project with no Rust toolchain on PATH, work from `require`, from
// `import`, and from a strict TypeScript consumer. (Skipped off x64 glibc Linux: it installs the
// x64 binary package.)
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const binary = path.join(root, 'native', 'rio-uring.linux-x64-gnu.node')
const supported = process.arch === 'x64' && fs.existsSync(binary)
// No cargo, no rustc: what a user's machine has.
const userPath = ['/usr/local/bin', '/usr/bin', '/bin'].filter((dir) => fs.existsSync(dir)).join(':')

async function pack(dir, into) {
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', into], { cwd: dir })
  const [packed] = JSON.parse(stdout)
  return { file: path.join(into, packed.filename), files: packed.files.map((file) => file.path), size: packed.size }
}

// Backend-independent: it runs once, in the io_uring pass of the suite.
const maybe = supported && process.env.RIO_URING_BACKEND !== 'threads' ? test.serial : test.serial.skip

maybe('the packed packages install without a Rust toolchain and work from require, import and strict TypeScript', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rio-pack-'))
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
  const rootPackage = await pack(root, work)
  t.false(rootPackage.files.some((file) => file.startsWith('crates/') || file.startsWith('ts/') || file.endsWith('.node')), 'the root ships no sources and no binary')
  t.true(rootPackage.files.includes('dist/index.js') && rootPackage.files.includes('native/index.js'))
  t.true(rootPackage.size < 512 * 1024, `the root package is small (${rootPackage.size} bytes)`)

  const platformDir = path.join(work, 'linux-x64-gnu')
  fs.cpSync(path.join(root, 'npm', 'linux-x64-gnu'), platformDir, { recursive: true })
  fs.copyFileSync(binary, path.join(platformDir, 'rio-uring.linux-x64-gnu.node'))
  const platformPackage = await pack(platformDir, work)
  t.deepEqual(platformPackage.files.sort(), ['README.md', 'package.json', 'rio-uring.linux-x64-gnu.node'].filter((file) => platformPackage.files.includes(file)).sort())

  const project = path.join(work, 'consumer')
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  const env = { ...process.env, PATH: userPath, RUSTUP_HOME: '/nonexistent', CARGO_HOME: '/nonexistent' }
  await run('npm', ['install', '--no-audit', '--no-fund', '--offline', rootPackage.file, platformPackage.file], { cwd: project, env })
  const sample = path.join(project, 'sample.txt')
  fs.writeFileSync(sample, 'read through the ring')

  const cjs = `const { Ring } = require('rio-uring'); const ring = new Ring(); ring.open(${JSON.stringify(sample)}).then(async (fd) => { const buf = Buffer.alloc(64); const n = await ring.readAt(fd, buf, 0); await ring.close(fd); await ring.close(); console.log(buf.toString('utf8', 0, n)) })`
  const fromRequire = await run(process.execPath, ['-e', cjs], { cwd: project, env })
  t.is(fromRequire.stdout.trim(), 'read through the ring')

  const esm = `const { readFile } = await import('rio-uring/fs'); const { Ring } = await import('rio-uring'); console.log(typeof Ring, await readFile(${JSON.stringify(sample)}, 'utf8'))`
  const fromImport = await run(process.execPath, ['--input-type=module', '-e', esm], { cwd: project, env })
  t.is(fromImport.stdout.trim(), 'function read through the ring')

  fs.mkdirSync(path.join(project, 'node_modules', '@types'), { recursive: true })
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'))
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16', target: 'es2022', lib: ['es2023'], types: ['node'], skipLibCheck: false },
    files: ['consumer.ts'],
  }))
  fs.writeFileSync(path.join(project, 'consumer.ts'), `
import { Ring, Ordering, type RingStats } from 'rio-uring'
import { readFile, open, type FileHandle } from 'rio-uring/fs'
import { listen, connect, toDuplex, type Connection } from 'rio-uring/net'
import { Log } from 'rio-uring/log'

export async function main(): Promise<number> {
  const ring = new Ring({ entries: 64 })
  const stats: RingStats = ring.stats()
  const n: number = await ring.readAt(0, Buffer.alloc(1), 0, { ordering: Ordering.Link })
  const text: string | Buffer = await readFile('x', 'utf8')
  const handle: FileHandle = await open('x')
  const server = await listen({ port: 0 })
  const connection: Connection = await connect({ port: server.port })
  const duplex = toDuplex(connection)
  const log = await Log.open('wal')
  const lsn: number = await log.append(Buffer.from('x'))
  return n + stats.inFlight + lsn + text.length + handle.fd + (duplex.remotePort ?? 0)
}
`)
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const compiled = await run(process.execPath, [tsc, '-p', project], { cwd: project, env }).then(() => '', (error) => error.stdout + error.stderr)
  t.is(compiled, '', 'a strict TypeScript consumer compiles')
})

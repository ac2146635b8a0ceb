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
/**
 * A PATH with node, npm and npx and nothing else: no cargo, no rustc, no C compiler, as on a
 * user's machine (npm runs scripts with /bin/sh, which needs no PATH).
 */
function userPath(work) {
  const bin = path.join(work, 'bin')
  fs.mkdirSync(bin)
  const npmCli = fs.realpathSync(path.join(path.dirname(process.execPath), 'npm'))
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  fs.symlinkSync(npmCli, path.join(bin, 'npm'))
  fs.symlinkSync(path.join(path.dirname(npmCli), 'npx-cli.js'), path.join(bin, 'npx'))
  return bin
}

/**
 * The root tarball as a release publishes it: `napi pre-publish` adds an optionalDependency on each
 * target's package at the package's version (they are not in the repository's package.json, where
 * npm ci could not resolve them before their first release).
 */
async function asPublished(tarball, work) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const stage = path.join(work, 'published')
  fs.mkdirSync(stage)
  await run('tar', ['-xzf', tarball, '-C', stage])
  const packageJson = path.join(stage, 'package', 'package.json')
  const published = JSON.parse(fs.readFileSync(packageJson, 'utf8'))
  const triples = { 'x86_64-unknown-linux-gnu': 'linux-x64-gnu', 'aarch64-unknown-linux-gnu': 'linux-arm64-gnu', 'x86_64-unknown-linux-musl': 'linux-x64-musl', 'aarch64-unknown-linux-musl': 'linux-arm64-musl' }
  published.optionalDependencies = Object.fromEntries(manifest.napi.targets.map((target) => [`${manifest.napi.binaryName}-${triples[target]}`, manifest.version]))
  fs.writeFileSync(packageJson, JSON.stringify(published, null, 2))
  const file = path.join(work, 'rio-uring-published.tgz')
  await run('tar', ['-czf', file, '-C', stage, 'package'])
  return { file, optionalDependencies: published.optionalDependencies }
}

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
  t.deepEqual(platformPackage.files.sort(), ['README.md', 'package.json', 'rio-uring.linux-x64-gnu.node'])

  const project = path.join(work, 'consumer')
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  const published = await asPublished(rootPackage.file, work)
  t.deepEqual(Object.keys(published.optionalDependencies).sort(), ['rio-uring-linux-arm64-gnu', 'rio-uring-linux-arm64-musl', 'rio-uring-linux-x64-gnu', 'rio-uring-linux-x64-musl'])
  const env = { ...process.env, PATH: userPath(work), RUSTUP_HOME: '/nonexistent', CARGO_HOME: '/nonexistent' }
  const toolchain = await run('/bin/sh', ['-c', 'command -v cargo rustc cc gcc || true'], { env })
  t.is(toolchain.stdout.trim(), '', 'the consumer has no Rust toolchain or C compiler on its PATH')
  await run('npm', ['install', '--no-audit', '--no-fund', '--offline', published.file, platformPackage.file], { cwd: project, env })
  // The root's optional dependency on this platform's package is the one installed beside it.
  const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8'))
  t.is(lock.packages['node_modules/rio-uring'].optionalDependencies['rio-uring-linux-x64-gnu'], JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version)
  t.truthy(lock.packages['node_modules/rio-uring-linux-x64-gnu'], 'the x64 gnu package is installed')
  const sample = path.join(project, 'sample.txt')
  fs.writeFileSync(sample, 'read through the ring')

  const cjs = `const { Ring } = require('rio-uring'); const ring = new Ring(); ring.open(${JSON.stringify(sample)}).then(async (fd) => { const buf = Buffer.alloc(64); const n = await ring.readAt(fd, buf, 0); await ring.close(fd); await ring.close(); console.log(buf.toString('utf8', 0, n)) })`
  const fromRequire = await run(process.execPath, ['-e', cjs], { cwd: project, env })
  t.is(fromRequire.stdout.trim(), 'read through the ring')

  const esm = `import { readFile } from 'rio-uring/fs'; import { Ring } from 'rio-uring'
    const ring = new Ring(); const fd = await ring.open(${JSON.stringify(sample)}); const buf = Buffer.alloc(64)
    const n = await ring.readAt(fd, buf, 0); await ring.close(fd); await ring.close()
    console.log(buf.toString('utf8', 0, n) === await readFile(${JSON.stringify(sample)}, 'utf8') ? buf.toString('utf8', 0, n) : 'differs')`
  const fromImport = await run(process.execPath, ['--input-type=module', '-e', esm], { cwd: project, env })
  t.is(fromImport.stdout.trim(), 'read through the ring')

  // Elsewhere than Linux the import says why, whichever way it is loaded.
  fs.writeFileSync(path.join(project, 'elsewhere.cjs'), "Object.defineProperty(process, 'platform', { value: 'darwin' })")
  const onMac = await run(process.execPath, ['-r', './elsewhere.cjs', '-e', "try { require('rio-uring') } catch (e) { console.log(e.code, e.message) }"], { cwd: project, env })
  t.regex(onMac.stdout, /^ERR_RIO_UNSUPPORTED_PLATFORM rio-uring runs on Linux only: io_uring is a Linux kernel interface, and this is darwin/)

  fs.mkdirSync(path.join(project, 'node_modules', '@types'), { recursive: true })
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'))
  const consumer = `
import { Ring, Ordering, type RingStats } from 'rio-uring'
import { readFile, open, type FileHandle } from 'rio-uring/fs'
import { listen, connect, toDuplex, type Connection } from 'rio-uring/net'
import { Log } from 'rio-uring/log'
import rioFs from 'rio-uring/fs'
import * as nodeFs from 'node:fs/promises'

// A drop-in for node:fs/promises, to the type checker too: the module, its overloads, its FileHandle.
export const sameModule: typeof nodeFs = rioFs
export async function overloads(): Promise<number> {
  const bytes: Buffer = await readFile('x')
  const text: string = await readFile('x', 'utf8')
  const nodeHandle: nodeFs.FileHandle = await open('x')
  const stats = await rioFs.stat('x', { bigint: true })
  const size: bigint = stats.size
  return bytes.length + text.length + nodeHandle.fd + Number(size)
}

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
`
  // A CommonJS and an ES module consumer under Node's resolution, and one under the classic
  // `node` resolution (no `exports`: the subpaths resolve through typesVersions).
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  for (const [file, module, moduleResolution] of [['consumer.ts', 'node16', 'node16'], ['consumer.mts', 'node16', 'node16'], ['classic.ts', 'commonjs', 'node10']]) {
    fs.writeFileSync(path.join(project, file), consumer)
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module, moduleResolution, target: 'es2022', lib: ['es2023'], types: ['node'], skipLibCheck: false, esModuleInterop: true },
      files: [file],
    }))
    const compiled = await run(process.execPath, [tsc, '-p', project], { cwd: project, env }).then(() => '', (error) => error.stdout + error.stderr)
    t.is(compiled, '', `a strict TypeScript consumer (${file}, ${moduleResolution} resolution) compiles`)
  }
})

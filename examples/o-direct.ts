/**
 * rio's O_DIRECT example: 1 MiB writes, each linked to a read of the same block, on a file opened
 * with O_DIRECT, every read checked against what was written.
 *
 * ```sh
 * npx tsx examples/o-direct.ts [PAIRS] [DIR]
 * ```
 *
 * `PAIRS` (default 1024) is how many write→read pairs to run. `DIR` is where the scratch file
 * goes (removed at the end); without it the example tries the OS temp dir, then the current
 * directory, since tmpfs (a common /tmp) refused O_DIRECT before Linux 6.6. If no directory
 * accepts O_DIRECT it says so and runs buffered.
 *
 * O_DIRECT needs buffers, offsets and lengths aligned to the device's block size. JS buffers
 * have no such alignment, but the ring never hands the kernel a JS buffer: it copies the data
 * through its own 4096-aligned staging memory, so any Buffer works.
 *
 * The pairs run in batches that reuse the same 16 MiB of the file, alternating between two
 * patterns, so a read that overtook its linked write would see the previous batch's bytes.
 */
import { constants } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Ordering, Ring } from 'rio-uring'

const CHUNK_BYTES = 1 << 20
const BATCH_PAIRS = 16
const DEFAULT_PAIRS = 1024
const { O_RDWR, O_CREAT, O_EXCL, O_DIRECT } = constants

interface Scratch {
  fd: number
  file: string
  direct: boolean
}

/** Opens a new scratch file with O_DIRECT in the first directory whose file system accepts it. */
async function openScratch(ring: Ring, dirs: string[]): Promise<Scratch> {
  const name = `rio-o-direct-${process.pid}-${Date.now()}`
  for (const dir of dirs) {
    const file = path.join(dir, name)
    try {
      return { fd: await ring.open(file, O_RDWR | O_CREAT | O_EXCL | O_DIRECT, 0o600), file, direct: true }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
      console.error(`o-direct: the file system under ${dir} refuses O_DIRECT (tmpfs before Linux 6.6 does).`)
    }
  }
  const file = path.join(dirs[dirs.length - 1], name)
  console.error('o-direct: running buffered instead; pass a directory on ext4, xfs or btrfs as DIR for a real O_DIRECT run.')
  return { fd: await ring.open(file, O_RDWR | O_CREAT | O_EXCL, 0o600), file, direct: false }
}

/** The count a write or read resolved to, or an error that says which op failed where. */
function expectWhole(result: PromiseSettledResult<number>, op: string, at: number, direct: boolean): void {
  if (result.status === 'rejected') {
    const error = result.reason as NodeJS.ErrnoException
    const hint = direct && error.code === 'EINVAL' ? ': the device needs a larger O_DIRECT alignment than 4096 bytes' : ''
    throw new Error(`${op} at offset ${at}: ${error.message}${hint}`)
  }
  if (result.value !== CHUNK_BYTES) throw new Error(`${op} at offset ${at} moved ${result.value} of ${CHUNK_BYTES} bytes`)
}

async function main(): Promise<void> {
  const [pairsArg, dirArg] = process.argv.slice(2)
  const pairs = pairsArg === undefined ? DEFAULT_PAIRS : Number(pairsArg)
  if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`PAIRS must be a count >= 1, got ${JSON.stringify(pairsArg)}`)
  const dirs = dirArg !== undefined ? [dirArg] : [...new Set([os.tmpdir(), process.cwd()])]

  await using ring = new Ring()
  const { fd, file, direct } = await openScratch(ring, dirs)
  try {
    const patterns = [Buffer.alloc(CHUNK_BYTES, 0xa5), Buffer.alloc(CHUNK_BYTES)]
    for (let i = 0; i < CHUNK_BYTES; i++) patterns[1][i] = i % 251
    const readBuffers = Array.from({ length: Math.min(BATCH_PAIRS, pairs) }, () => Buffer.alloc(CHUNK_BYTES))

    const started = performance.now()
    for (let done = 0, batch = 0; done < pairs; batch++) {
      const count = Math.min(BATCH_PAIRS, pairs - done)
      const written = patterns[batch % 2]
      const ops: Promise<number>[] = []
      for (let slot = 0; slot < count; slot++) {
        const at = slot * CHUNK_BYTES
        // The link makes the read start only after this write has completed.
        ops.push(ring.writeAt(fd, written, at, { ordering: Ordering.Link }), ring.readAt(fd, readBuffers[slot], at))
      }
      const results = await Promise.allSettled(ops)
      for (let slot = 0; slot < count; slot++) {
        expectWhole(results[2 * slot], 'write', slot * CHUNK_BYTES, direct)
        expectWhole(results[2 * slot + 1], 'read', slot * CHUNK_BYTES, direct)
        if (!readBuffers[slot].equals(written)) throw new Error(`pair ${done + slot}: the read did not see its linked write`)
      }
      done += count
    }
    const seconds = (performance.now() - started) / 1000
    console.log(
      `o-direct: ${pairs} linked 1 MiB write→read pairs (${direct ? 'O_DIRECT' : 'buffered'}, ${ring.backend} backend) ` +
        `in ${seconds.toFixed(2)} s: ${Math.round((2 * pairs) / Math.max(seconds, 1e-9))} MiB/s, every read matched its write`,
    )
  } finally {
    await ring.close(fd)
    await ring.unlink(file)
  }
}

main().catch((error: Error) => {
  console.error(`o-direct: ${error.message}`)
  process.exitCode = 1
})

/**
 * Reads a file through the ring and copies it to stdout, like `cat`.
 *
 * ```sh
 * npx tsx examples/read-file.ts <file>
 * ```
 *
 * Several chunk reads are in flight at once: the ring submits all the reads started in one tick
 * with a single `io_uring_enter`, and they are written out in file order as they complete. A
 * summary goes to stderr, so `npx tsx examples/read-file.ts a > b` copies a to b.
 */
import { once } from 'node:events'
import { Ring } from 'rio-uring'

const CHUNK_BYTES = 256 * 1024
const CHUNKS_IN_FLIGHT = 8

async function main(): Promise<void> {
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: npx tsx examples/read-file.ts <file>')
    process.exitCode = 2
    return
  }

  await using ring = new Ring()
  const fd = await ring.open(file, 'r')
  let bytes = 0
  let reads = 0
  try {
    // Reads batch after batch until one comes back short: that is the end of the file (a file
    // whose size statx cannot tell, like those in /proc, is read to its end all the same).
    for (let at = 0, atEnd = false; !atEnd; at += CHUNK_BYTES * CHUNKS_IN_FLIGHT) {
      const batch: Promise<Buffer>[] = []
      for (let i = 0; i < CHUNKS_IN_FLIGHT; i++) {
        const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
        batch.push(ring.readAt(fd, chunk, at + i * CHUNK_BYTES).then((count) => chunk.subarray(0, count)))
      }
      for (const chunk of await Promise.all(batch)) {
        reads++
        if (atEnd) continue
        if (chunk.length < CHUNK_BYTES) atEnd = true
        bytes += chunk.length
        if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
      }
    }
  } finally {
    await ring.close(fd)
  }
  console.error(`read-file: ${bytes} bytes of ${file} in ${reads} reads of up to ${CHUNK_BYTES} bytes (${ring.backend} backend)`)
}

main().catch((error: Error) => {
  console.error(`read-file: ${error.message}`)
  process.exitCode = 1
})

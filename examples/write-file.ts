/**
 * Writes text to a file through the ring and makes it durable: the write and an `fdatasync` go to
 * the kernel together, linked so the sync starts only once the write has succeeded.
 *
 * ```sh
 * npx tsx examples/write-file.ts <file> [text...]
 * ```
 *
 * The file is created or truncated; the text is the remaining arguments joined by spaces, plus a
 * newline (default: "hello from io_uring"). `statx` then confirms the size on disk.
 */
import { Ordering, Ring } from 'rio-uring'

async function main(): Promise<void> {
  const [file, ...words] = process.argv.slice(2)
  if (file === undefined) {
    console.error('usage: npx tsx examples/write-file.ts <file> [text...]')
    process.exitCode = 2
    return
  }
  const data = Buffer.from(`${words.length > 0 ? words.join(' ') : 'hello from io_uring'}\n`)

  await using ring = new Ring()
  const fd = await ring.open(file, 'w', 0o644)
  try {
    // Started in the same tick, so both reach the kernel in one submission. With Link, a failed
    // or short write cancels the fdatasync (it rejects with ECANCELED) instead of syncing a
    // half-written file; the write's own error is the one to report.
    const [write, sync] = await Promise.allSettled([ring.writeAt(fd, data, 0, { ordering: Ordering.Link }), ring.fdatasync(fd)])
    if (write.status === 'rejected') throw write.reason
    const written = write.value
    if (written !== data.length) throw new Error(`wrote ${written} of ${data.length} bytes, so the sync was cancelled`)
    if (sync.status === 'rejected') throw sync.reason
    const { size } = await ring.statx(fd)
    console.log(`write-file: wrote ${written} bytes to ${file} and synced them; statx says the file holds ${size} bytes (${ring.backend} backend)`)
  } finally {
    await ring.close(fd)
  }
}

main().catch((error: Error) => {
  console.error(`write-file: ${error.message}`)
  process.exitCode = 1
})

/**
 * The native addon, through napi-rs's generated loader (`native/index.js`, never edited by
 * hand), which picks the binary for this platform: the local build, or the
 * `rio-uring-linux-<arch>-<libc>` package npm installed. Everything that needs the addon imports
 * it from here, so that on a system without io_uring the first import says so plainly.
 * @internal
 * @packageDocumentation
 */
if (process.platform !== 'linux') {
  const error = new Error(
    `rio-uring runs on Linux only: io_uring is a Linux kernel interface, and this is ${process.platform}. ` +
      'Use node:fs/promises and node:net here, or run on Linux 5.15 or later.',
  ) as Error & { code: string }
  error.code = 'ERR_RIO_UNSUPPORTED_PLATFORM'
  throw error
}

export * from '../native/index.js'

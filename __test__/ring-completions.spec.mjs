// How completions reach JS: in batches, over several rounds per wakeup, within a time budget.
// Run in a child process: there nothing else wakes the event loop, so a completion the ring held
// back and forgot to announce would show as a hang (ava's own traffic would mask it).
import test from 'ava'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

test('completions left over when a wakeup runs out of time are still delivered', async (t) => {
  // 40 nops complete at once; the first batch handed to JS blocks for 20 ms, far beyond a
  // wakeup's budget, so the rest wait for the next wakeup, which the ring must arrange itself.
  const script = `
    const { Ring } = require(${JSON.stringify(root)})
    const ring = new Ring()
    const nops = Array.from({ length: 40 }, () => ring.nop())
    nops[0].then(() => { const until = Date.now() + 20; while (Date.now() < until); })
    const timer = setTimeout(() => { console.log('stranded'); process.exit(1) }, 3000)
    Promise.all(nops).then(() => { clearTimeout(timer); console.log('all settled'); return ring.close() })
  `
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { env: process.env }).catch((error) => error)
  t.is(stdout.trim(), 'all settled')
})

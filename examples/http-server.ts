/**
 * node:http over io_uring: an ordinary `http.createServer` handler, served on rio connections by
 * `serveHttp` (each accepted connection becomes a `Duplex` that node:http parses as it would a
 * `net.Socket`).
 *
 * ```sh
 * npx tsx examples/http-server.ts [--host HOST] [--port PORT]
 * npx tsx examples/http-server.ts --port 0 --self-check
 * ```
 *
 * `GET /anything` answers with a greeting naming the path; `POST /echo` sends the request body
 * back. The server runs until Ctrl-C or SIGTERM. With `--self-check` it also sends itself keep-alive
 * GETs with `fetch` and a 1 MiB POST, checks every answer, reports and exits (0 if all were right).
 */
import http from 'node:http'
import { parseArgs } from 'node:util'
import { networkRing, serveHttp } from 'rio-uring/net'

const POST_BYTES = 1 << 20

function handle(request: http.IncomingMessage, response: http.ServerResponse): void {
  if (request.method === 'POST' && request.url === '/echo') {
    response.setHeader('content-type', request.headers['content-type'] ?? 'application/octet-stream')
    request.pipe(response)
    return
  }
  response.setHeader('content-type', 'text/plain; charset=utf-8')
  response.end(`hello from node:http over io_uring: ${request.method} ${request.url}\n`)
}

async function selfCheck(base: string): Promise<void> {
  const started = performance.now()
  const gets = 10
  for (let i = 0; i < gets; i++) {
    const response = await fetch(`${base}/check/${i}`)
    const text = await response.text()
    if (response.status !== 200 || text !== `hello from node:http over io_uring: GET /check/${i}\n`) {
      throw new Error(`GET /check/${i} answered ${response.status}: ${JSON.stringify(text)}`)
    }
  }
  const body = Buffer.alloc(POST_BYTES)
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >>> 8)) & 0xff
  const posted = await fetch(`${base}/echo`, { method: 'POST', body })
  const echoed = Buffer.from(await posted.arrayBuffer())
  if (posted.status !== 200 || !echoed.equals(body)) {
    throw new Error(`POST /echo answered ${posted.status} with ${echoed.length} bytes that differ from the ${body.length} sent`)
  }
  const ms = performance.now() - started
  console.log(`http-server: self-check passed: ${gets} GETs and a ${POST_BYTES}-byte POST echoed back in ${ms.toFixed(0)} ms`)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'self-check': { type: 'boolean', default: false },
    },
  })
  const server = http.createServer(handle)
  const listener = await serveHttp(server, { host: values.host, port: Number(values.port) })
  const { address, family } = listener.address()
  const base = `http://${family === 'IPv6' ? `[${address}]` : address}:${listener.port}`
  console.log(`http-server: listening on ${base}/ (${networkRing().backend} backend)`)

  try {
    if (values['self-check']) {
      await selfCheck(base)
    } else {
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
    }
  } finally {
    // Keep-alive connections idle until their timeout; end them now, then stop listening.
    server.closeAllConnections()
    await listener.close()
  }
  console.log('http-server: closed')
}

main().catch((error: Error) => {
  console.error(`http-server: ${error.message}`)
  process.exitCode = 1
})

/**
 * rio's headline example: a TCP echo server on io_uring. Accept, receive and send are ring ops;
 * each connection sends back what it receives until the peer shuts its side down.
 *
 * ```sh
 * npx tsx examples/echo-server.ts [--host HOST] [--port PORT]
 * npx tsx examples/echo-server.ts --port 0 --self-check [--connections N] [--rounds N]
 * ```
 *
 * The server prints the address it listens on (`--port 0` lets the kernel pick a port) and runs
 * until Ctrl-C or SIGTERM, which closes the listener and every connection. With `--self-check`
 * it also connects N clients at once (default 64), each doing R round trips of 128 bytes
 * (default 100) and checking every echo against what it sent; then it reports the rate and exits,
 * 0 if every byte came back right.
 */
import { parseArgs } from 'node:util'
import { connect, listen, networkRing, type Connection, type Server } from 'rio-uring/net'

const MESSAGE_BYTES = 128

/** Echoes until the peer shuts down (or the connection is closed), then closes. */
async function echo(connection: Connection): Promise<void> {
  try {
    for await (const chunk of connection) await connection.send(chunk)
  } catch (error) {
    // A peer that resets is its own business; anything else is worth a line.
    if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') console.error(`echo-server: ${(error as Error).message}`)
  } finally {
    await connection.close()
  }
}

/** Accepts until the server is closed; resolves to how many connections it served. */
async function serve(server: Server, open: Set<Connection>): Promise<number> {
  let served = 0
  for await (const connection of server) {
    served++
    open.add(connection)
    void echo(connection).finally(() => open.delete(connection))
  }
  return served
}

/** One client's round trips: each message differs from every other client's and round's. */
async function roundTrips(host: string, port: number, client: number, rounds: number): Promise<void> {
  const connection = await connect({ host, port })
  try {
    const message = Buffer.alloc(MESSAGE_BYTES)
    const reply = Buffer.alloc(MESSAGE_BYTES)
    for (let round = 0; round < rounds; round++) {
      message.fill(`client ${client} round ${round} `)
      await connection.send(message)
      for (let received = 0; received < MESSAGE_BYTES; ) {
        const n = await connection.recv(reply.subarray(received))
        if (n === 0) throw new Error(`client ${client}: the server ended the stream in round ${round}`)
        received += n
      }
      if (!reply.equals(message)) throw new Error(`client ${client}: round ${round} came back different`)
    }
  } finally {
    await connection.close()
  }
}

async function selfCheck(host: string, port: number, connections: number, rounds: number): Promise<void> {
  const started = performance.now()
  await Promise.all(Array.from({ length: connections }, (_, client) => roundTrips(host, port, client, rounds)))
  const seconds = (performance.now() - started) / 1000
  const total = connections * rounds
  console.log(
    `echo-server: self-check passed: ${connections} connections × ${rounds} round trips of ${MESSAGE_BYTES} bytes ` +
      `in ${seconds.toFixed(2)} s (${Math.round(total / seconds)} round trips/s), every echo matched`,
  )
}

function count(name: string, value: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a count >= 1, got "${value}"`)
  return parsed
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7000' },
      'self-check': { type: 'boolean', default: false },
      connections: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '100' },
    },
  })
  const port = Number(values.port)
  const connections = count('connections', values.connections)
  const rounds = count('rounds', values.rounds)

  const server = await listen({ host: values.host, port })
  const { address, family } = server.address()
  const shown = family === 'IPv6' ? `[${address}]` : address
  console.log(`echo-server: listening on ${shown}:${server.port} (${networkRing().backend} backend)`)

  const open = new Set<Connection>()
  const serving = serve(server, open)
  const stop = async (): Promise<void> => {
    await server.close()
    await Promise.all([...open].map((connection) => connection.close()))
  }

  if (values['self-check']) {
    try {
      await selfCheck(values.host, server.port, connections, rounds)
    } finally {
      await stop()
    }
  } else {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await stop()
  }
  console.log(`echo-server: closed after ${await serving} connections`)
}

main().catch((error: Error) => {
  console.error(`echo-server: ${error.message}`)
  process.exitCode = 1
})

// The servers the network benchmark loads, one per process: `node servers.mjs IMPL` prints the
// port it listens on (127.0.0.1), then serves until killed.
//   rio-echo    echo over rio-uring/net (recv into one buffer, send it back)
//   rio-echo-iter  the same with `for await (const chunk of connection)`, as users write it
//   rio-echo-iter-multishot  the same with multishotReceive (one multishot receive per connection)
//   node-echo   echo over node:net
//   rio-http    node:http served over rio-uring   node-http   plain node:http
import net from 'node:net'
import http from 'node:http'
import { listen, serveHttp } from 'rio-uring/net'

const impl = process.argv[2]
const reply = (req, res) => res.end('ok')

if (impl === 'rio-echo') {
  const server = await listen({ host: '127.0.0.1', port: 0 })
  console.log(server.port)
  for await (const connection of server) {
    void (async () => {
      const buffer = Buffer.allocUnsafe(16 << 10)
      try {
        for (;;) {
          const received = await connection.recv(buffer)
          if (received === 0) break
          await connection.send(buffer.subarray(0, received))
        }
      } catch {}
      await connection.close()
    })()
  }
} else if (impl === 'rio-echo-iter' || impl === 'rio-echo-iter-multishot') {
  const server = await listen({ host: '127.0.0.1', port: 0, multishotReceive: impl === 'rio-echo-iter-multishot' })
  console.log(server.port)
  for await (const connection of server) {
    void (async () => {
      try {
        for await (const chunk of connection) await connection.send(chunk)
      } catch {}
      await connection.close()
    })()
  }
} else if (impl === 'node-echo') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
} else if (impl === 'rio-http') {
  const server = await serveHttp(http.createServer(reply), { host: '127.0.0.1', port: 0 })
  console.log(server.port)
} else if (impl === 'node-http') {
  const server = http.createServer(reply)
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
} else {
  console.error('usage: node servers.mjs rio-echo|rio-echo-iter|rio-echo-iter-multishot|node-echo|rio-http|node-http')
  process.exit(2)
}

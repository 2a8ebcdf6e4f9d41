/**
 * The benchmark's baseline: the least a signaling relay can do. Plain node:http + ws; a socket names
 * its room in the URL (`/?room=r`), the second one in a room pairs with the first (both get
 * `{"type":"paired","peer":<id of the other>}`), and every text frame goes unchanged to the other one.
 * No auth, no validation, no rate limit, no replay buffer: whatever Switchboard costs beyond this is
 * the price of those features.
 *
 *   PORT=8090 HOST=127.0.0.1 tsx bench/baseline-relay.ts
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'

const port = Number(process.env.PORT ?? 8090)
const host = process.env.HOST ?? '127.0.0.1'
// Same frame ceiling as Switchboard's default (2 x WS_MAX_MESSAGE_BYTES), so both refuse the same sizes.
const maxPayload = Number(process.env.MAX_PAYLOAD_BYTES ?? 131072)

interface Member { socket: WebSocket, id: string }
const rooms = new Map<string, Member[]>()

const server = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' }).end(req.url === '/health' ? 'ok' : 'not found')
})
const wss = new WebSocketServer({ server, maxPayload, perMessageDeflate: false })

wss.on('connection', (socket, req) => {
  const room = new URL(req.url ?? '/', 'http://relay').searchParams.get('room')
  if (room === null || room === '') return socket.close(1008, 'room required')
  const members = rooms.get(room) ?? []
  if (members.length >= 2) return socket.close(1008, 'room full')
  const me: Member = { socket, id: randomBytes(12).toString('base64url') }
  members.push(me)
  rooms.set(room, members)
  const [first, second] = members
  if (first && second) {
    first.socket.send(JSON.stringify({ type: 'paired', peer: second.id }))
    second.socket.send(JSON.stringify({ type: 'paired', peer: first.id }))
  }
  socket.on('message', (data, isBinary) => {
    if (isBinary) return
    const other = members.find((m) => m !== me)
    other?.socket.send(data, { binary: false })
  })
  socket.on('close', () => {
    const index = members.indexOf(me)
    if (index >= 0) members.splice(index, 1)
    if (members.length === 0 && rooms.get(room) === members) rooms.delete(room)
  })
})

server.listen(port, host)

// Exit promptly when the bench stops us; open sockets are simply dropped.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const client of wss.clients) client.terminate()
    server.close(() => process.exit(0))
  })
}

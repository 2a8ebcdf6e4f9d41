/**
 * A baseline written the way most Socket.IO 4 signaling servers are: a client emits `join-session`
 * with its room and user id, the server remembers userId -> socket id, and `signal:offer`,
 * `signal:answer` and `signal:ice-candidate` carrying `{ to: userId, ... }` are forwarded to that
 * user with the sender's id added as `from`. No auth, no validation, no replay buffer.
 *
 * With REDIS_URL it runs with `@socket.io/redis-adapter` (several processes on one Redis). The
 * in-memory map then only knows this process's users, so the recipient is addressed through a room
 * named after its user id, which is how the adapter routes a message to another process.
 *
 *   PORT=8091 HOST=127.0.0.1 tsx bench/socketio-relay.ts
 *   PORT=8092 HOST=127.0.0.1 REDIS_URL=redis://127.0.0.1:6379 tsx bench/socketio-relay.ts
 */
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server, type Socket } from 'socket.io'

const port = Number(process.env.PORT ?? 8091)
const host = process.env.HOST ?? '127.0.0.1'
const redisUrl = process.env.REDIS_URL

/** The three signaling events; each is forwarded unchanged under the same name. */
const SIGNALS = ['signal:offer', 'signal:answer', 'signal:ice-candidate'] as const

interface JoinSession { room: string, userId: string }
type JoinReply = { peers: string[] } | { error: string }

const userRoom = (userId: string): string => `user:${userId}`

// Not ready until the adapter's Redis connections are: the bench waits on /health before connecting peers.
let ready = redisUrl === undefined
const http = createServer((req, res) => {
  const ok = req.url === '/health' && ready
  res.writeHead(ok ? 200 : req.url === '/health' ? 503 : 404, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready')
})
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false })

if (redisUrl !== undefined) {
  const pub = new Redis(redisUrl, { lazyConnect: true })
  const sub = pub.duplicate()
  await Promise.all([pub.connect(), sub.connect()])
  io.adapter(createAdapter(pub, sub))
  ready = true
}

/** userId -> socket id, for the users connected to this process. */
const users = new Map<string, string>()

io.on('connection', (socket: Socket) => {
  socket.on('join-session', async ({ room, userId }: JoinSession, reply: (answer: JoinReply) => void) => {
    if (typeof room !== 'string' || typeof userId !== 'string') return reply({ error: 'room and userId required' })
    socket.data.userId = userId
    users.set(userId, socket.id)
    await socket.join([room, userRoom(userId)])
    socket.to(room).emit('user-joined', { userId })
    // Who is already there; fetchSockets asks the other processes too when the adapter is Redis.
    const inRoom = await io.in(room).fetchSockets()
    reply({ peers: inRoom.map((s) => s.data.userId as string).filter((id) => id !== userId) })
  })

  for (const event of SIGNALS) {
    socket.on(event, (message: { to?: unknown }) => {
      const from = socket.data.userId as string | undefined
      if (from === undefined || typeof message?.to !== 'string') return
      const { to, ...rest } = message
      if (redisUrl !== undefined) {
        io.to(userRoom(to)).emit(event, { from, ...rest })
      } else {
        const target = users.get(to)
        if (target !== undefined) io.to(target).emit(event, { from, ...rest })
      }
    })
  }

  socket.on('disconnect', () => {
    const userId = socket.data.userId as string | undefined
    if (userId !== undefined && users.get(userId) === socket.id) users.delete(userId)
  })
})

http.listen(port, host)

// Exit promptly when the bench stops us; open sockets are simply dropped.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    io.disconnectSockets(true)
    process.exit(0)
  })
}

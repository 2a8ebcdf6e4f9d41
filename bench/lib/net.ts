import { connect, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** A loopback port that was free a moment ago (the OS picks it; we release it for the child). */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Calls `probe` every 100 ms until it answers ready, `gaveUp()` says to stop (e.g. the child exited),
 * or `timeoutMs` passes. Polling instead of sleeping keeps start-up as short as the server allows.
 * `probe` returns true when ready, or a description of what it saw (kept for the timeout message).
 */
async function pollUntilReady (what: string, probe: () => Promise<true | string>, timeoutMs: number, gaveUp: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    const reason = gaveUp()
    if (reason !== undefined) throw new Error(reason)
    try {
      const seen = await probe()
      if (seen === true) return
      last = seen
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms (${last})`)
}

/** Polls `url` until it answers 200. */
export async function waitForHttp (url: string, timeoutMs: number, gaveUp: () => string | undefined = () => undefined): Promise<void> {
  await pollUntilReady(url, async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
    await res.body?.cancel()
    return res.status === 200 ? true : `HTTP ${res.status}`
  }, timeoutMs, gaveUp)
}

/** Polls a Redis server on 127.0.0.1:`port` until it answers PING with +PONG. */
export async function waitForRedis (port: number, timeoutMs: number, gaveUp: () => string | undefined = () => undefined): Promise<void> {
  await pollUntilReady(`redis on port ${port}`, async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
      socket.setTimeout(1000, () => socket.destroy(new Error('timeout')))
      socket.once('data', (data) => { socket.end(); resolve(data.toString()) })
      socket.once('error', reject)
    })
    return reply.startsWith('+PONG') ? true : reply.trim()
  }, timeoutMs, gaveUp)
}

/**
 * `INFO memory`'s `used_memory` (bytes Redis allocated for its data) from 127.0.0.1:`port`. Used with
 * the Node heap to tell what a Redis-backed target keeps per peer, which RSS (in pages) would blur.
 */
export async function redisUsedMemory (port: number, timeoutMs = 3000): Promise<number> {
  const reply = await new Promise<string>((resolve, reject) => {
    let data = ''
    const socket = connect(port, '127.0.0.1', () => socket.write('INFO memory\r\n'))
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`redis on port ${port}: INFO timed out`)))
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8')
      // A bulk string: $<length>\r\n<payload>\r\n; wait until the payload is complete.
      const header = /^\$(\d+)\r\n/.exec(data)
      if (header?.[1] !== undefined && data.length >= header[0].length + Number(header[1])) {
        socket.end()
        resolve(data)
      }
    })
    socket.once('error', reject)
  })
  const used = /^used_memory:(\d+)/m.exec(reply)?.[1]
  if (used === undefined) throw new Error(`redis on port ${port}: no used_memory in INFO`)
  return Number(used)
}

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
 * Polls `url` until it answers 200, `gaveUp()` says to stop (e.g. the child exited), or `timeoutMs`
 * passes. Polling instead of sleeping keeps start-up as short as the server allows.
 */
export async function waitForHttp (url: string, timeoutMs: number, gaveUp: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    const reason = gaveUp()
    if (reason !== undefined) throw new Error(reason)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.body?.cancel()
      if (res.status === 200) return
      last = `HTTP ${res.status}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`)
}

/** Polls a Redis server on 127.0.0.1:`port` until it answers PING with +PONG. */
export async function waitForRedis (port: number, timeoutMs: number, gaveUp: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    const reason = gaveUp()
    if (reason !== undefined) throw new Error(reason)
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
        socket.setTimeout(1000, () => socket.destroy(new Error('timeout')))
        socket.once('data', (data) => { socket.end(); resolve(data.toString()) })
        socket.once('error', reject)
      })
      if (reply.startsWith('+PONG')) return
      last = reply.trim()
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`redis on port ${port} not ready after ${timeoutMs} ms (${last})`)
}

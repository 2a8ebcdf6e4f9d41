import { connect, createServer, type Socket } from 'node:net'
import { request } from 'node:http'

/**
 * A tiny TCP load balancer on 127.0.0.1 for the multi-instance browser tests: what a browser sees
 * in production is one origin in front of several instances. Each new connection goes to the
 * preferred backend when it is ready (GET /health/ready = 200, the probe a real balancer uses),
 * otherwise to the first ready one. A draining instance answers 503 there, so reconnects land
 * elsewhere without the test steering them.
 */

export interface Balancer {
  /** http://127.0.0.1:<port>: the origin the pages load and connect to. */
  url: string
  /** New connections go to this backend while it is ready (pins a page to an instance). */
  prefer (port: number): void
  /** Which backend each accepted connection went to, in order (ports). */
  readonly routed: number[]
  close (): Promise<void>
}

function ready (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health/ready', timeout: 1000, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

export async function startBalancer (t: { teardown (fn: () => unknown): void }, backends: number[]): Promise<Balancer> {
  let preferred = backends[0]
  const routed: number[] = []
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }

  async function pick (): Promise<number | undefined> {
    const order = [...new Set([preferred, ...backends])].filter((p): p is number => p !== undefined)
    for (const port of order) if (await ready(port)) return port
    return undefined
  }

  const server = createServer((client) => {
    track(client)
    client.pause()
    client.on('error', () => client.destroy())
    void pick().then((port) => {
      if (port === undefined || client.destroyed) {
        client.destroy()
        return
      }
      routed.push(port)
      const upstream = connect({ host: '127.0.0.1', port })
      track(upstream)
      upstream.on('error', () => client.destroy())
      // Either side closing closes the other, as a real L4 balancer would (a dropped instance drops its clients).
      upstream.on('close', () => client.destroy())
      client.on('close', () => upstream.destroy())
      client.pipe(upstream).pipe(client)
      client.resume()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('balancer has no TCP address')

  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  return {
    url: `http://127.0.0.1:${address.port}`,
    prefer (port) { preferred = port },
    routed,
    close
  }
}

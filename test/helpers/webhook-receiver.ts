import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

interface Teardown { teardown (fn: () => unknown): void }

/** A verified webhook as the receiver got it. */
export interface Received {
  id: string
  type: string
  timestamp: string
  data: Record<string, unknown>
  /** The raw body (for "never contains X" checks) and signature header (for rotation checks). */
  body: string
  signature: string
}

/** A fresh Standard Webhooks secret, like an integrator's dashboard would hand out. */
export function newWebhookSecret (): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * A real HTTP endpoint that receives Switchboard's webhooks and verifies each with the
 * `standardwebhooks` package (the verifier integrators use); an unverifiable request is answered 401
 * and counted. While `down`, it answers 503 to everything. Tests wait on arrivals, never on time.
 */
export class WebhookReceiver {
  /** Verified and acknowledged events, in arrival order (a redelivery appears twice). */
  readonly events: Received[] = []
  /** Requests answered with a failure (while down). */
  refused = 0
  /** Requests whose signature did not verify. */
  invalid = 0
  down = false
  private waiters: Array<() => void> = []

  private constructor (readonly url: string, private readonly close: () => Promise<void>) {}

  static async start (t: Teardown, secret: string): Promise<WebhookReceiver> {
    const verifier = new Webhook(secret)
    let receiver: WebhookReceiver | undefined
    const server = createServer((req, res) => {
      void readBody(req).then((body) => {
        const r = receiver
        if (r === undefined) return res.writeHead(503).end()
        if (r.down) {
          r.refused++
          r.notify()
          return res.writeHead(503).end()
        }
        let payload: { type: string, timestamp: string, data: Record<string, unknown> }
        try {
          payload = verifier.verify(body, headersOf(req)) as typeof payload
        } catch {
          r.invalid++
          r.notify()
          return res.writeHead(401).end()
        }
        r.events.push({ ...payload, id: String(req.headers['webhook-id']), body, signature: String(req.headers['webhook-signature']) })
        res.writeHead(204).end()
        r.notify()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    receiver = new WebhookReceiver(`http://127.0.0.1:${port}/hooks`, async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    t.teardown(() => receiver?.close())
    return receiver
  }

  private notify (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /** Resolves once `check` holds (checked on every request); rejects after `timeoutMs` naming `what`. */
  async until (check: (r: WebhookReceiver) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (check(this)) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.events.map((e) => `${e.type}(${String(e.data.peerId ?? '')})`).join(', ')}`))
      }, timeoutMs)
      const wait = (): void => {
        if (check(this)) {
          clearTimeout(timer)
          resolve()
        } else {
          this.waiters.push(wait)
        }
      }
      this.waiters.push(wait)
    })
  }

  /** Waits for an event matching `match` and returns it. */
  async next (match: (e: Received) => boolean, what: string, timeoutMs = 5000): Promise<Received> {
    await this.until((r) => r.events.some(match), what, timeoutMs)
    return this.events.find(match) as Received
  }

  /** The events of one room, in arrival order, as `type` or `type:reason`, first delivery of each id only. */
  story (room: string): string[] {
    const seen = new Set<string>()
    return this.events.filter((e) => {
      if (e.data.room !== room || seen.has(e.id)) return false
      seen.add(e.id)
      return true
    }).map((e) => e.data.reason === undefined ? e.type : `${e.type}:${String(e.data.reason)}`)
  }
}

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function headersOf (req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)]))
}

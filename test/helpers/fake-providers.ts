import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/**
 * Local stand-ins for the Cloudflare Realtime TURN and Twilio NTS APIs (the only fakes we allow: third-party
 * clouds). They check method, path, auth header and body like the real APIs, answer their documented shapes,
 * and can be switched into failure modes.
 */

interface Teardown { teardown (fn: () => unknown): void }

export type FakeMode =
  | 'ok'
  | 'slow' // accepts the request and never answers
  | 'html' // 200 with an HTML page (a captive portal, a proxy error page)
  | 'wrong-json' // 201 with JSON of another shape
  | 'fail-once' // 503 on the first request, then ok
  | 'always-5xx' // 500 every time

export interface RecordedRequest {
  method: string
  path: string
  contentType: string | undefined
  authorization: string | undefined
  body: string
}

export interface FakeProvider {
  /** Base URL to put in CLOUDFLARE_API_URL / TWILIO_API_URL. */
  url: string
  /** Every request received, in order. */
  requests: RecordedRequest[]
  mode: FakeMode
  /** Stops listening (and drops open sockets): later calls get "connection refused". */
  goDown (): Promise<void>
}

type Answer = { status: number, contentType: string, body: string }
type Handler = (request: RecordedRequest) => Answer

function json (status: number, value: unknown): Answer {
  return { status, contentType: 'application/json', body: JSON.stringify(value) }
}

async function startFake (t: Teardown, handle: Handler): Promise<FakeProvider> {
  const sockets = new Set<Socket>()
  const fake: FakeProvider = {
    url: '',
    requests: [],
    mode: 'ok',
    goDown: async () => {
      for (const socket of sockets) socket.destroy()
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  let served = 0
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8')
      }
      fake.requests.push(recorded)
      served++
      let answer: Answer
      switch (fake.mode) {
        case 'slow': return // never answers; goDown()/teardown destroys the socket
        case 'html': answer = { status: 200, contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' }; break
        case 'wrong-json': answer = json(201, { result: 'ok', servers: 'none' }); break
        case 'always-5xx': answer = json(500, { message: 'internal error' }); break
        case 'fail-once': answer = served === 1 ? json(503, { message: 'try later' }) : handle(recorded); break
        case 'ok': answer = handle(recorded); break
      }
      res.writeHead(answer.status, { 'content-type': answer.contentType })
      res.end(answer.body)
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(() => fake.goDown())
  return fake
}

export interface FakeCloudflareOptions {
  keyId: string
  apiToken: string
  /** Answer with the older `generate` endpoint's single-object `iceServers`. */
  legacyShape?: boolean
}

/** TURN credentials the fakes hand out, so tests can compare what the API returns. */
export const FAKE_CLOUDFLARE_CREDENTIALS = { username: 'cf0123456789abcdef', credential: 'cfsecretcredential0123' }
export const FAKE_TWILIO_CREDENTIALS = { username: 'tw0123456789abcdef', credential: 'twsecretcredential0123' }

/**
 * Cloudflare: POST /v1/turn/keys/{keyId}/credentials/generate-ice-servers, Bearer token, JSON {ttl}
 * → 201 {iceServers:[...]}; the URL list includes the port-53 entries Cloudflare has listed (browsers block them).
 */
export async function startFakeCloudflare (t: Teardown, options: FakeCloudflareOptions): Promise<FakeProvider> {
  return startFake(t, (req) => {
    if (req.method !== 'POST' || req.path !== `/v1/turn/keys/${options.keyId}/credentials/generate-ice-servers`) {
      return json(404, { error: 'not found' })
    }
    if (req.authorization !== `Bearer ${options.apiToken}`) return json(401, { error: 'unauthorized' })
    if (req.contentType?.startsWith('application/json') !== true) return json(400, { error: 'expected JSON' })
    let ttl: unknown
    try { ttl = (JSON.parse(req.body) as { ttl?: unknown }).ttl } catch { return json(400, { error: 'bad JSON' }) }
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > 172800) return json(400, { error: 'bad ttl' })
    const turn = {
      urls: [
        'turn:turn.cloudflare.com:3478?transport=udp',
        'turn:turn.cloudflare.com:53?transport=udp',
        'turn:turn.cloudflare.com:3478?transport=tcp',
        'turn:turn.cloudflare.com:80?transport=tcp',
        'turns:turn.cloudflare.com:5349?transport=tcp',
        'turns:turn.cloudflare.com:443?transport=tcp'
      ],
      ...FAKE_CLOUDFLARE_CREDENTIALS
    }
    if (options.legacyShape === true) return json(201, { iceServers: turn })
    return json(201, { iceServers: [{ urls: ['stun:stun.cloudflare.com:3478', 'stun:stun.cloudflare.com:53'] }, turn] })
  })
}

export interface FakeTwilioOptions {
  accountSid: string
  authToken: string
}

/**
 * Twilio: POST /2010-04-01/Accounts/{Sid}/Tokens.json, Basic auth, form body Ttl=<s>
 * → 201 {username, password, ttl:"<s>", ice_servers:[{url, urls, ...}], ...}; urls is a string, url is legacy.
 */
export async function startFakeTwilio (t: Teardown, options: FakeTwilioOptions): Promise<FakeProvider> {
  const basic = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`
  return startFake(t, (req) => {
    if (req.method !== 'POST' || req.path !== `/2010-04-01/Accounts/${options.accountSid}/Tokens.json`) {
      return json(404, { code: 20404, message: 'The requested resource was not found' })
    }
    if (req.authorization !== basic) return json(401, { code: 20003, message: 'Authenticate' })
    if (req.contentType?.startsWith('application/x-www-form-urlencoded') !== true) return json(400, { message: 'expected a form body' })
    const ttlParam = new URLSearchParams(req.body).get('Ttl') ?? '86400'
    const ttl = Number(ttlParam)
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86400) return json(400, { code: 21608, message: 'Invalid Ttl' })
    const now = new Date().toUTCString()
    const { username, credential } = FAKE_TWILIO_CREDENTIALS
    const turn = (url: string): Record<string, string> => ({ url, urls: url, username, credential })
    return json(201, {
      account_sid: options.accountSid,
      date_created: now,
      date_updated: now,
      username,
      password: credential,
      ttl: String(ttl),
      ice_servers: [
        { url: 'stun:global.stun.twilio.com:3478', urls: 'stun:global.stun.twilio.com:3478' },
        turn('turn:global.turn.twilio.com:3478?transport=udp'),
        turn('turn:global.turn.twilio.com:3478?transport=tcp'),
        turn('turn:global.turn.twilio.com:443?transport=tcp'),
        turn('turn:global.turn.twilio.com:53?transport=udp')
      ]
    })
  })
}

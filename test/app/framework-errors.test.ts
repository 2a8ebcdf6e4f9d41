import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { build, listen } from '../helpers/build.js'

/*
 * Errors Fastify and Node's HTTP parser produce themselves (before or around our routes) are
 * problem+json with an SWB_* code too, checked on the wire against a real listening server.
 */

interface RawResponse { status: number, headers: Record<string, string>, body: string }

/** Sends bytes as they are and reads the answer until the server closes (every request here says close). */
async function raw (base: string, request: string): Promise<RawResponse> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...headerLines] = head.split('\r\n')
      const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') })
    })
    socket.write(request)
  })
}

function isProblem (t: Test, res: RawResponse, status: number, code: string, why: string): void {
  t.equal(res.status, status, `${why}: ${status}`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${why}: problem+json`)
  let body: Record<string, unknown> = {}
  try { body = JSON.parse(res.body) as Record<string, unknown> } catch { t.fail(`${why}: body is not JSON: ${res.body.slice(0, 200)}`) }
  t.match(body, { status, code, type: `urn:switchboard:problem:${code.toLowerCase()}`, title: String }, `${why}: body`)
  t.type(body.requestId, 'string', `${why}: a request id to report`)
}

const post = (path: string, contentType: string, body: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

t.test('every error the framework produces is problem+json', async (t) => {
  // Development: POST /v1/dev/token parses a JSON body without authentication first.
  const app = await build(t, { NODE_ENV: 'development', JWT_SECRET: undefined })
  const url = await listen(app)

  const bigToken = 'x'.repeat(100 * 1024)
  isProblem(t, await raw(url, `GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer ${bigToken}\r\n\r\n`),
    431, 'SWB_HEADERS_TOO_LARGE', 'a 100 KB token')
  isProblem(t, await raw(url, post('/v1/dev/token', 'application/json', JSON.stringify({ sub: 'a', pad: 'y'.repeat(70 * 1024) }))),
    413, 'SWB_BODY_TOO_LARGE', 'a body over 64 KiB')
  isProblem(t, await raw(url, post('/v1/dev/token', 'application/json', '{"sub":')), 400, 'SWB_MALFORMED_JSON', 'bad JSON')
  isProblem(t, await raw(url, post('/v1/dev/token', 'application/xml', '<sub>a</sub>')), 415, 'SWB_UNSUPPORTED_MEDIA_TYPE', 'an unparsed content type')
  isProblem(t, await raw(url, 'GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'), 404, 'SWB_NOT_FOUND', 'an unknown route')
  isProblem(t, await raw(url, 'GET /demo/%zz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'), 400, 'SWB_BAD_REQUEST', 'a URL that does not decode')
  isProblem(t, await raw(url, 'NOT HTTP AT ALL\r\n\r\n'), 400, 'SWB_BAD_REQUEST', 'bytes that are not HTTP')
  isProblem(t, await raw(url, 'POST /v1/dev/token HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'),
    400, 'SWB_BAD_REQUEST', 'conflicting Content-Length headers')
})

t.test('a request that arrives while the server closes gets a 503 problem', async (t) => {
  const { buildApp } = await import('../../src/app.js')
  const { testConfig } = await import('../helpers/config.js')
  const app = await buildApp(testConfig())
  // Closing takes time (WebSocket clients are told to leave in preClose): hold it there while a request arrives.
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let began: () => void = () => {}
  const closing = new Promise<void>((resolve) => { began = resolve })
  app.addHook('preClose', async () => { began(); await held })
  t.teardown(() => { release(); return app.close() })
  const url = await listen(app)

  const closed = app.close()
  await closing
  isProblem(t, await raw(url, 'GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'), 503, 'SWB_DRAINING', 'a request during close')
  release()
  await closed
})

import t from 'tap'
import { listenHost } from '../../src/listen.js'
import { loggerOptions } from '../../src/logger.js'
import { listeningUrl, startServer } from './server-process.js'

/*
 * Development mode, as `npm start` runs it: loopback only, the demo URL printed, `/` leading to the
 * demo, JSON logs when stdout is not a terminal, and probes kept out of the info log.
 */

const DEV_ENV = { NODE_ENV: 'development', PORT: '0', LOG_LEVEL: 'info' }

t.test('development listens on 127.0.0.1 unless HOST is set; production keeps every interface', async (t) => {
  t.equal(listenHost({ NODE_ENV: 'development', HOST: undefined }), '127.0.0.1')
  t.equal(listenHost({ NODE_ENV: 'test', HOST: undefined }), '127.0.0.1')
  t.equal(listenHost({ NODE_ENV: 'production', HOST: undefined }), '0.0.0.0', 'probes and the Service reach the pod')
  t.equal(listenHost({ NODE_ENV: 'development', HOST: '0.0.0.0' }), '0.0.0.0', 'HOST wins')
})

t.test('npm start: loopback only, the demo URL printed, / redirects to the demo, JSON lines, probes not at info', async (t) => {
  const server = startServer(t, DEV_ENV)
  const url = await listeningUrl(server)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'bound to loopback')
  const listening = server.lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at '))
  t.equal(listening.length, 1, 'one address only (a wildcard bind would log every interface)')

  const demo = await server.waitForLine('the demo URL', (l) => l.url !== undefined && String(l.msg).startsWith('demo call page'))
  t.equal(demo.url, `${url}/demo/`, 'the printed URL is the bound address and port')

  const root = await fetch(`${url}/`, { redirect: 'manual' })
  t.equal(root.status, 302)
  t.equal(root.headers.get('location'), '/demo/')
  t.equal((await fetch(`${url}/demo/`)).status, 200, 'and the demo is there')

  t.equal((await fetch(`${url}/health/live`)).status, 200)
  t.equal((await fetch(`${url}/health/ready`)).status, 200)
  // A request logged after the probes: once its line is out, theirs would be too.
  await fetch(`${url}/docs/json`)
  await server.waitForLine('the /docs/json request log', (l) => l.msg === 'request completed' && typeof l.reqId === 'string' &&
    server.lines().some((m) => m.reqId === l.reqId && (m.req as { url?: string } | undefined)?.url === '/docs/json'))
  const lines = server.lines()
  t.same(lines.filter((l) => /\/health/.test(JSON.stringify(l.req ?? ''))), [], 'no incoming-request line for /health/live or /health/ready')
  // A completed line carries only the request id: each must belong to a logged, non-probe request.
  const logged = new Set(lines.filter((l) => l.msg === 'incoming request').map((l) => l.reqId))
  const strays = lines.filter((l) => l.msg === 'request completed' && !logged.has(l.reqId))
  t.same(strays, [], 'no request-completed line for the probes either')
  t.ok(server.lines().length > 3, 'every stdout line parsed as JSON (not a terminal: no pino-pretty)')

  server.child.kill('SIGTERM')
  t.equal((await server.exit).code, 0)
})

t.test('HOST set in development is honoured', async (t) => {
  const server = startServer(t, { ...DEV_ENV, HOST: 'localhost', DEMO_ENABLED: 'false' })
  const url = await listeningUrl(server)
  t.match(url, /^http:\/\/(localhost|127\.0\.0\.1|\[::1\]):\d+$/)
  server.child.kill('SIGTERM')
  await server.exit
  t.notOk(server.lines().some((l) => String(l.msg).startsWith('demo call page')), 'no demo URL when the demo is off')
})

t.test('probe request logs are at debug, so LOG_LEVEL=debug still shows them', async (t) => {
  const server = startServer(t, { ...DEV_ENV, LOG_LEVEL: 'debug' })
  const url = await listeningUrl(server)
  await fetch(`${url}/health/live`)
  const line = await server.waitForLine('the probe log', (l) => l.msg === 'request completed' &&
    server.lines().some((m) => m.reqId === l.reqId && (m.req as { url?: string } | undefined)?.url === '/health/live'))
  t.equal(line.level, 20, 'debug')
  server.child.kill('SIGTERM')
  await server.exit
})

t.test('pino-pretty only when asked (stdout is a terminal); JSON otherwise', async (t) => {
  const pretty = loggerOptions({ LOG_LEVEL: 'info' }, { pretty: true }) as { transport?: { target: string } }
  t.equal(pretty.transport?.target, 'pino-pretty')
  const plain = loggerOptions({ LOG_LEVEL: 'info' }, { pretty: false }) as { transport?: unknown }
  t.equal(plain.transport, undefined)
})

import t, { type Test } from 'tap'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import helmet from '@fastify/helmet'
import { loadConfig } from '../../../src/config.js'
import { installErrorHandlers } from '../../../src/error-handler.js'
import demo, { demoEnabled } from '../../../plugins/demo/index.js'
import { findDemoSources } from '../../../plugins/demo/bundle.js'
import { build } from '../../helpers/build.js'
import { testConfig } from '../../helpers/config.js'

const PRODUCTION = { NODE_ENV: 'production', TURN_SECRET: 'demo-test-turn-secret-0123456789-abcdef', TURN_URLS: 'turn:127.0.0.1:3478?transport=udp' } as const

t.test('DEMO_ENABLED: unset means on except in production; an explicit value wins', async (t) => {
  t.equal(demoEnabled({ NODE_ENV: 'development', DEMO_ENABLED: undefined }), true)
  t.equal(demoEnabled({ NODE_ENV: 'test', DEMO_ENABLED: undefined }), true)
  t.equal(demoEnabled({ NODE_ENV: 'production', DEMO_ENABLED: undefined }), false)
  t.equal(demoEnabled({ NODE_ENV: 'production', DEMO_ENABLED: true }), true)
  t.equal(demoEnabled({ NODE_ENV: 'development', DEMO_ENABLED: false }), false)
  t.equal(loadConfig({ DEMO_ENABLED: 'false' }).DEMO_ENABLED, false, 'parsed from the environment as a boolean')
  t.equal(loadConfig({}).DEMO_ENABLED, undefined)
  t.throws(() => loadConfig({ DEMO_ENABLED: 'sometimes' }), { name: 'ConfigError', message: /DEMO_ENABLED/ })
})

t.test('the page, its stylesheet and a route-level CSP that allows same-origin scripts and sockets', async (t) => {
  const app = await build(t)
  const page = await app.inject({ url: '/demo/', headers: { host: '127.0.0.1:8080' } })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], 'text/html')
  t.match(page.body, '<script type="module" src="./demo.js"></script>')
  t.notMatch(page.body, /<script>|\sstyle=|\son[a-z]+=/, 'no inline script, style or handler (the CSP forbids them)')
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, "script-src 'self'")
  t.match(csp, "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080")
  t.match(csp, "frame-ancestors 'none'")
  t.notMatch(csp, 'upgrade-insecure-requests', 'ws:// keeps working on http://localhost')
  t.notMatch(csp, 'unsafe-inline')

  const css = await app.inject({ url: '/demo/demo.css' })
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], 'text/css')

  // Other routes keep helmet's global policy.
  const health = await app.inject({ url: '/health/live' })
  t.match(String(health.headers['content-security-policy']), 'upgrade-insecure-requests')
})

t.test('a hostile Host header cannot add CSP directives', async (t) => {
  const app = await build(t)
  for (const host of ["evil.test; script-src 'unsafe-inline'", 'a b', "x' *"]) {
    const res = await app.inject({ url: '/demo/', headers: { host } })
    const connect = /connect-src ([^;]*)/.exec(String(res.headers['content-security-policy']))?.[1]
    t.equal(connect?.trim(), "'self'", `Host ${JSON.stringify(host)}`)
    t.notMatch(String(res.headers['content-security-policy']), 'unsafe-inline')
  }
})

t.test('/demo redirects to /demo/ keeping the query', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/demo?room=consult-1&relay=1' })
  t.equal(res.statusCode, 308)
  t.equal(res.headers.location, '/demo/?room=consult-1&relay=1')
  t.equal((await app.inject({ url: '/demo' })).headers.location, '/demo/')
})

t.test('demo.js: the page and the client bundled once, with an ETag', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/demo/demo.js' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], 'text/javascript')
  t.match(res.body, 'switchboardDemo', 'the page script')
  t.match(res.body, '/v1/turn/credentials', 'with the client it uses')
  t.notMatch(res.body, /from ?["']\.\.?\//, 'no relative imports left for the browser to resolve')
  t.ok(res.body.length < 100_000, `small (${res.body.length} bytes)`)
  const etag = String(res.headers.etag)
  t.match(etag, /^"[\w-]+"$/)
  const again = await app.inject({ url: '/demo/demo.js', headers: { 'if-none-match': etag } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  const stale = await app.inject({ url: '/demo/demo.js', headers: { 'if-none-match': '"old"' } })
  t.equal(stale.statusCode, 200)
})

t.test('off in production unless DEMO_ENABLED=true; DEMO_ENABLED=false turns it off anywhere', async (t) => {
  const prod = await build(t, PRODUCTION)
  const off = await prod.inject({ url: '/demo/' })
  t.equal(off.statusCode, 404)
  t.equal(off.json().code, 'SWB_NOT_FOUND')
  t.equal((await prod.inject({ url: '/demo/demo.js' })).statusCode, 404)

  const disabled = await build(t, { NODE_ENV: 'development', DEMO_ENABLED: false })
  t.equal((await disabled.inject({ url: '/demo/' })).statusCode, 404)

  const enabled = await build(t, { ...PRODUCTION, DEMO_ENABLED: true })
  t.equal((await enabled.inject({ url: '/demo/' })).statusCode, 200)
})

t.test('only the three files are served: other paths and methods are 404 problems', async (t) => {
  const app = await build(t)
  for (const url of ['/demo/index.html', '/demo/demo.ts', '/demo/call.ts', '/demo/%2e%2e/package.json', '/demo/../package.json']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().code, 'SWB_NOT_FOUND', url)
  }
  t.equal((await app.inject({ method: 'POST', url: '/demo/' })).statusCode, 404)
})

/** A bare app with just what the demo plugin needs, pointed at a copy of the sources. */
async function bareApp (t: Test, sourcesDir: string, overrides: Parameters<typeof testConfig>[0] = {}) {
  const app = Fastify()
  app.decorate('config', testConfig(overrides))
  installErrorHandlers(app)
  await app.register(helmet)
  await app.register(demo, { sourcesDir })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test('a script that does not build is a 500 problem SWB_DEMO_BUNDLE_FAILED, retried on the next request', async (t) => {
  const real = findDemoSources()
  if (real === undefined) throw new Error('demo sources not found')
  const dir = mkdtempSync(join(tmpdir(), 'swb-demo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const file of ['index.html', 'demo.css']) cpSync(join(real, file), join(dir, file))
  writeFileSync(join(dir, 'demo.ts'), 'import { nothing } from "./missing.js"\nconsole.log(nothing)\n')
  const app = await bareApp(t, dir)
  const res = await app.inject({ url: '/demo/demo.js' })
  t.equal(res.statusCode, 500)
  t.match(res.headers['content-type'], 'application/problem+json')
  t.equal(res.json().code, 'SWB_DEMO_BUNDLE_FAILED')
  t.notMatch(res.body, /missing|demo\.ts|swb-demo-/, 'no file names or compiler output in the answer')

  writeFileSync(join(dir, 'demo.ts'), 'console.log("fixed")\n')
  const fixed = await app.inject({ url: '/demo/demo.js' })
  t.equal(fixed.statusCode, 200, 'the failed build was not cached')
})

t.test('missing sources: DEMO_ENABLED=true refuses to start, the implicit default just serves nothing', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'swb-demo-empty-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  await t.rejects(bareApp(t, empty, { DEMO_ENABLED: true }), { name: 'ConfigError', message: /DEMO_ENABLED=true/ })
  const app = await bareApp(t, empty)
  t.equal((await app.inject({ url: '/demo/' })).statusCode, 404)
})

t.test('GET / redirects to the demo in development only', async (t) => {
  const dev = await build(t, { NODE_ENV: 'development' })
  const root = await dev.inject({ url: '/' })
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/demo/')
  for (const [why, overrides] of [['test mode', {}], ['production', PRODUCTION], ['development without the demo', { NODE_ENV: 'development', DEMO_ENABLED: false }]] as const) {
    const app = await build(t, overrides)
    const res = await app.inject({ url: '/' })
    t.equal(res.statusCode, 404, why)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${why}: a 404 problem`)
  }
})

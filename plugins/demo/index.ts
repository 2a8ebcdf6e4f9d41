import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ConfigError } from '../../src/config.js'
import { problemResponses } from '../../src/problem.js'
import { bundleDemo, findDemoSources, isDemoSources, type DemoBundle } from './bundle.js'
import { DemoBundleFailedError } from './errors.js'

import { demoEnabled } from './config.js'

export { demoEnabled }

/** Host header values we are willing to echo into the CSP (no spaces, quotes or `;`). */
const SAFE_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/

/**
 * The page's own CSP: scripts and styles from this origin only, nothing inline, and connections to
 * this origin (fetch) plus its ws:/wss: twin. CSP3 counts same-host ws: as 'self', older engines do
 * not, hence the explicit entry. Helmet's global default would also add upgrade-insecure-requests,
 * which breaks `ws://localhost` in development.
 */
const DEMO_CSP = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      mediaSrc: ["'self'", 'blob:'],
      connectSrc: ["'self'", (req: IncomingMessage) => {
        const host = req.headers.host ?? ''
        return SAFE_HOST.test(host) ? `ws://${host} wss://${host}` : ''
      }],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
      objectSrc: ["'none'"]
    }
  }
}

const Text = (mediaType: string): Record<string, { schema: ReturnType<typeof Type.String> }> =>
  ({ [mediaType]: { schema: Type.String() } })

export interface DemoOptions {
  /** Where index.html, demo.css and demo.ts are; found next to the code when omitted (tests point elsewhere). */
  sourcesDir?: string
}

/**
 * Serves the demo call page at /demo/: index.html, demo.css and demo.js (demo/demo.ts plus the
 * TypeScript client, bundled on first request). A route plugin: its CSP applies to these routes only.
 * Does nothing when the demo is disabled (DEMO_ENABLED=false, or unset in production).
 */
const demo: FastifyPluginAsyncTypebox<DemoOptions> = async (app, opts) => {
  const config = app.config
  if (!demoEnabled(config)) return
  const log = app.log.child({ component: 'demo' })
  const sources = opts.sourcesDir === undefined ? findDemoSources() : [opts.sourcesDir].find(isDemoSources)
  if (sources === undefined) {
    // Asked for explicitly: refuse to start rather than serve 404s. Implicitly on: say why it is off.
    if (config.DEMO_ENABLED === true) throw new ConfigError('DEMO_ENABLED=true but the demo sources (demo/index.html, demo.css, demo.ts) are not deployed')
    log.warn('demo sources not found: /demo/ is not served')
    return
  }
  const html = readFileSync(join(sources, 'index.html'), 'utf8')
  const css = readFileSync(join(sources, 'demo.css'), 'utf8')

  // Built once, on the first request for the script; a failed build is retried on the next one.
  let bundle: Promise<DemoBundle> | undefined
  const script = async (): Promise<DemoBundle> => {
    bundle ??= bundleDemo(sources).catch((err: unknown) => {
      bundle = undefined
      log.error({ err }, 'demo bundle failed')
      throw new DemoBundleFailedError()
    })
    return bundle
  }

  const common = { helmet: DEMO_CSP }
  // A web page for people, not an API: kept out of the OpenAPI document (whose linter also refuses `/demo/`'s slash).
  const tags = ['demo']
  const hide = true

  // Development only: the bare origin is what people type after `npm start`, and it has nothing else to show.
  if (config.NODE_ENV === 'development') {
    app.get('/', {
      ...common,
      schema: { hide, tags, operationId: 'redirectRootToDemo', summary: 'Development: redirects to the demo page', response: { 302: Type.Null() } }
    }, async (_request, reply) => reply.redirect('/demo/', 302))
  }

  app.get('/demo', {
    ...common,
    schema: { hide, tags, operationId: 'redirectToDemoPage', summary: 'Redirects to /demo/ (relative asset paths need the slash)', response: { 308: Type.Null() } }
  }, async (request, reply) => {
    const query = request.url.indexOf('?')
    return reply.redirect(`/demo/${query === -1 ? '' : request.url.slice(query)}`, 308)
  })

  app.get('/demo/', {
    ...common,
    schema: { hide, tags, operationId: 'getDemoPage', summary: 'The demo call page', response: { 200: { content: Text('text/html') } } }
  }, async (_request, reply) => {
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html)
  })

  app.get('/demo/demo.css', {
    ...common,
    schema: { hide, tags, operationId: 'getDemoStylesheet', summary: 'The demo page stylesheet', response: { 200: { content: Text('text/css') } } }
  }, async (_request, reply) => {
    return reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(css)
  })

  app.get('/demo/demo.js', {
    ...common,
    schema: {
      hide,
      tags,
      operationId: 'getDemoScript',
      summary: 'The demo page script (demo.ts and the TypeScript client, bundled)',
      response: { 200: { content: Text('text/javascript') }, 304: Type.Null(), ...problemResponses(500) }
    }
  }, async (request, reply) => {
    const { js, etag } = await script()
    void reply.header('etag', etag).header('cache-control', 'no-cache')
    if (request.headers['if-none-match'] === etag) return reply.code(304).send(null)
    return reply.type('text/javascript; charset=utf-8').send(js)
  })
}

export default demo

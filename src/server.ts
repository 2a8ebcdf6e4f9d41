import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { metricsExposure } from '../plugins/metrics/config.js'
import { metricsRequestHandler } from '../plugins/metrics/index.js'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { demoPageUrl, listenHost } from './listen.js'

/** A bad config ends the process with status 78 (EX_CONFIG) and one line naming the variable, no stack trace. */
function exitOnConfigError (err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`switchboard: invalid configuration: ${err.message}\n`)
    process.exit(78)
  }
  throw err
}

/**
 * Entry point: read config, build, listen, and shut down gracefully on SIGTERM/SIGINT.
 * A bad config exits with status 78 (EX_CONFIG) and one line naming the variable, no stack trace.
 */
async function main (): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    exitOnConfigError(err)
  }
  const host = listenHost(config)

  // Some settings can only be judged by the plugin that uses them (a JWT_PUBLIC_KEY that does not parse).
  let app: FastifyInstance
  try {
    app = await buildApp(config, { prettyLogs: process.stdout.isTTY === true })
  } catch (err) {
    exitOnConfigError(err)
  }
  // METRICS_PORT keeps /metrics off the public port: a bare listener just for scrapes.
  let metricsServer: Server | undefined
  const exposure = metricsExposure(config)
  if (exposure.kind === 'port') {
    metricsServer = createServer(metricsRequestHandler(app.metrics))
    metricsServer.listen(exposure.port, host)
  }

  // The drain deadline is enforced inside app.close(): once for the sockets, once more for the webhooks
  // still queued in memory (the sessions ending with the sockets add some); the grace delay adds a margin.
  closeWithGrace({ delay: (2 * config.SHUTDOWN_DRAIN_SECONDS + 5) * 1000, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    // Readiness off at once, clients told to reconnect elsewhere, stragglers closed at the deadline.
    await app.signaling.drain(config.SHUTDOWN_DRAIN_SECONDS * 1000)
    await app.close()
    metricsServer?.close()
  })

  await app.listen({ port: config.PORT, host })
  // Say where the demo is, with the port actually bound (PORT=0 picks one).
  const url = app.hasRoute({ method: 'GET', url: '/demo/' }) ? demoPageUrl(app.server.address() as AddressInfo, config.TLS_CERT_FILE !== undefined) : undefined
  if (url !== undefined) app.log.info({ url }, `demo call page: ${url}`)
}

main().catch((err: unknown) => {
  process.stderr.write(`switchboard: failed to start: ${(err as Error).message}\n`)
  process.exit(1)
})

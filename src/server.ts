import { createServer, type Server } from 'node:http'
import closeWithGrace from 'close-with-grace'
import { metricsRequestHandler } from '../plugins/metrics/index.js'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

/**
 * Entry point: read config, build, listen, and shut down gracefully on SIGTERM/SIGINT.
 * A bad config exits with status 78 (EX_CONFIG) and one line naming the variable, no stack trace.
 */
async function main (): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchboard: invalid configuration: ${err.message}\n`)
      process.exit(78)
    }
    throw err
  }

  const app = await buildApp(config)
  // METRICS_PORT keeps /metrics off the public port: a bare listener just for scrapes.
  let metricsServer: Server | undefined
  if (config.METRICS_ENABLED && config.METRICS_PORT !== undefined) {
    metricsServer = createServer(metricsRequestHandler(app.metrics))
    metricsServer.listen(config.METRICS_PORT, config.HOST)
  }

  // The drain deadline is enforced inside app.close(); the grace delay adds a margin on top.
  closeWithGrace({ delay: (config.SHUTDOWN_DRAIN_SECONDS + 5) * 1000, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    // Readiness off at once, clients told to reconnect elsewhere, stragglers closed at the deadline.
    await app.signaling.drain(config.SHUTDOWN_DRAIN_SECONDS * 1000)
    await app.close()
    metricsServer?.close()
  })

  await app.listen({ port: config.PORT, host: config.HOST })
}

main().catch((err: unknown) => {
  process.stderr.write(`switchboard: failed to start: ${(err as Error).message}\n`)
  process.exit(1)
})

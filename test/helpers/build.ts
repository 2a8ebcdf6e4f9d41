import type { FastifyInstance } from 'fastify'
import { Writable } from 'node:stream'
import { buildApp } from '../../src/app.js'
import { checkConfig, type Config } from '../../src/config.js'
import { testConfig } from './config.js'
import { registryOverrides } from './test-registry.js'

interface Teardown { teardown (fn: () => unknown): void }

/** Builds a real app for one test and closes it when the test ends. */
export async function build (t: Teardown, overrides: Partial<Config> = {}): Promise<FastifyInstance> {
  const config = testConfig({ ...await registryOverrides(overrides), ...overrides })
  checkConfig(config)
  const app = await buildApp(config)
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** Log lines captured from an app, parsed as JSON, plus the raw text for "never logs X" assertions. */
export interface CapturedLogs { lines: Array<Record<string, unknown>>, text (): string }

export function captureLogs (): { stream: Writable, logs: CapturedLogs } {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) { raw.push(chunk.toString('utf8')); cb() }
  })
  const logs: CapturedLogs = {
    get lines () { return raw.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) },
    text: () => raw.join('')
  }
  return { stream, logs }
}

/** Like build(), with every log line captured (level trace unless overridden). */
export async function buildWithLogs (t: Teardown, overrides: Partial<Config> = {}): Promise<{ app: FastifyInstance, logs: CapturedLogs }> {
  const { stream, logs } = captureLogs()
  const config = testConfig({ LOG_LEVEL: 'trace', AUDIT_LOG_LEVEL: 'info', ...await registryOverrides(overrides), ...overrides })
  checkConfig(config)
  const app = await buildApp(config, { logStream: stream })
  t.teardown(() => app.close())
  await app.ready()
  return { app, logs }
}

/** Listens on an ephemeral loopback port; returns the base URL (http or https). */
export async function listen (app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' })
}

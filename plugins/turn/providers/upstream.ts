import type { FastifyBaseLogger } from 'fastify'
import type { TSchema, Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { filterIceUrls, isTurnUrl } from '../urls.js'
import type { IceServer } from '../schemas.js'
import { UpstreamBadResponseError, UpstreamUnavailableError } from '../errors.js'

/** Upstream answers are a few KiB; anything bigger is not a credential answer. */
const MAX_ANSWER_BYTES = 256 * 1024
/** One retry, only for failures that a second try can fix (network, timeout, 5xx). */
const ATTEMPTS = 2

export interface UpstreamCall {
  provider: string
  url: string
  method: 'POST'
  headers: Record<string, string>
  body: string
  timeoutMs: number
  log: FastifyBaseLogger
}

class Retryable extends Error {}

async function readCapped (response: Response): Promise<string> {
  const reader = response.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel()
      throw new UpstreamBadResponseError('answer too large')
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function attempt (call: UpstreamCall): Promise<unknown> {
  // The deadline covers connecting, the headers and the body: a stalled upstream never hangs a request.
  const signal = AbortSignal.timeout(call.timeoutMs)
  let response: Response
  try {
    response = await fetch(call.url, { method: call.method, headers: call.headers, body: call.body, signal, redirect: 'manual' })
  } catch (err) {
    throw new Retryable((err as Error).name === 'TimeoutError' ? 'timeout' : 'connection failed')
  }
  if (response.status >= 500) {
    await response.body?.cancel().catch(() => {})
    throw new Retryable(`HTTP ${response.status}`)
  }
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel().catch(() => {})
    throw new UpstreamBadResponseError(`HTTP ${response.status}`)
  }
  let text: string
  try {
    text = await readCapped(response)
  } catch (err) {
    if (err instanceof UpstreamBadResponseError) throw err
    throw new Retryable((err as Error).name === 'TimeoutError' ? 'timeout' : 'connection failed')
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new UpstreamBadResponseError('not JSON')
  }
}

/**
 * POSTs to a cloud TURN provider and returns its JSON answer. Never logs the request headers/body
 * (they hold the API token) nor the answer (it holds credentials): only provider, attempt and reason.
 */
export async function callUpstream (call: UpstreamCall): Promise<unknown> {
  let reason = 'no attempt'
  for (let n = 1; n <= ATTEMPTS; n++) {
    try {
      return await attempt(call)
    } catch (err) {
      if (!(err instanceof Retryable)) {
        call.log.warn({ provider: call.provider, attempt: n, reason: (err as Error).message }, 'TURN provider answer refused')
        throw err
      }
      reason = err.message
      call.log.warn({ provider: call.provider, attempt: n, reason }, 'TURN provider call failed')
    }
  }
  throw new UpstreamUnavailableError(reason)
}

/** Checks an upstream answer against its TypeBox schema; a mismatch is a 502, with no upstream data echoed. */
export function answerChecker<S extends TSchema> (schema: S): (value: unknown) => Static<S> {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => {
    if (!compiled.Check(value)) throw new UpstreamBadResponseError('unexpected shape')
    return value
  }
}

export interface UpstreamIceServer {
  urls: string | string[]
  username?: string | undefined
  credential?: string | undefined
}

/**
 * Maps provider entries to RTCIceServers a browser accepts: URLs failing the browser's checks (port 53,
 * bad scheme or query) are dropped, and so is a TURN URL without username/credential (InvalidAccessError).
 * An answer with no usable TURN URL left is a bad answer.
 */
export function normalizeIceServers (provider: string, entries: UpstreamIceServer[], log: FastifyBaseLogger): IceServer[] {
  const servers: IceServer[] = []
  let droppedCount = 0
  for (const entry of entries) {
    const { kept, dropped } = filterIceUrls(Array.isArray(entry.urls) ? entry.urls : [entry.urls])
    droppedCount += dropped.length
    const hasCredentials = typeof entry.username === 'string' && entry.username.length > 0 &&
      typeof entry.credential === 'string' && entry.credential.length > 0
    const usable = hasCredentials ? kept : kept.filter((url) => !isTurnUrl(url))
    droppedCount += kept.length - usable.length
    if (usable.length === 0) continue
    servers.push(hasCredentials ? { urls: usable, username: entry.username, credential: entry.credential } : { urls: usable })
  }
  // Counts only: a dropped URL could carry user@ credentials.
  if (droppedCount > 0) log.info({ provider, droppedUrls: droppedCount }, 'dropped ICE URLs that browsers refuse')
  if (!servers.some((s) => s.urls.some(isTurnUrl))) throw new UpstreamBadResponseError('no usable TURN server')
  return servers
}

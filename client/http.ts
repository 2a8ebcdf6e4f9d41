import type { ConnectionLimits, IceServersResult } from './messages.js'
import { ClientErrorCode, SwitchboardError } from './errors.js'

/** GET /v1/signal/preflight: the upgrade would be accepted. */
export interface PreflightResult {
  ok: true
  userId: string
  /** ms since the epoch */
  tokenExpiresAt: number
  /** Connections this user has open now. */
  connections: number
  limits: ConnectionLimits
}

export type { IceServersResult }

export type FetchLike = typeof fetch

function retryAfterMs (header: string | null): number | undefined {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

/**
 * Sends one authenticated JSON request; a non-2xx answer becomes a SwitchboardError carrying the
 * problem's `code` and the HTTP status, a failed request one with SWB_CLIENT_NETWORK.
 */
export async function requestJson<T> (fetchFn: FetchLike, url: string, token: string, init: { method: 'GET' | 'POST', body?: unknown }): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json, application/problem+json' }
  let body: string | undefined
  if (init.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(init.body)
  }
  let response: Response
  try {
    response = await fetchFn(url, { method: init.method, headers, ...(body !== undefined && { body }), cache: 'no-store' })
  } catch (err) {
    throw new SwitchboardError(ClientErrorCode.NETWORK, `${init.method} ${url} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  let payload: unknown
  try {
    payload = await response.json()
  } catch {
    payload = undefined
  }
  if (!response.ok) {
    const problem = (typeof payload === 'object' && payload !== null ? payload : {}) as { code?: unknown, detail?: unknown, title?: unknown }
    const code = typeof problem.code === 'string' ? problem.code : ClientErrorCode.BAD_RESPONSE
    const message = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : `HTTP ${response.status}`
    const retry = retryAfterMs(response.headers.get('retry-after'))
    throw new SwitchboardError(code, message, { status: response.status, ...(retry !== undefined && { retryAfterMs: retry }) })
  }
  if (typeof payload !== 'object' || payload === null) {
    throw new SwitchboardError(ClientErrorCode.BAD_RESPONSE, `${init.method} ${url}: expected a JSON object`, { status: response.status })
  }
  return payload as T
}

import { createHmac } from 'node:crypto'

/**
 * Standard Webhooks 1.0 signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per key,
 * space-separated, so a receiver holding any of the keys (old or new, during a rotation) accepts it.
 * node:crypto rather than the `standardwebhooks` package: the tests verify with that package, so the
 * two implementations check each other.
 */
export function signatureHeader (keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): string {
  const signed = `${id}.${timestampSeconds}.${body}`
  return keys.map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`).join(' ')
}

/** The headers of one delivery attempt; the timestamp is the attempt's (receivers reject stale ones). */
export function webhookHeaders (keys: readonly Buffer[], id: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000)
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(keys, id, timestamp, body)
  }
}

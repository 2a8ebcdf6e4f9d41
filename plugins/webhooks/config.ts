import { Type, type Static } from '@sinclair/typebox'
import { list } from '../../src/env-list.js'

/** The webhooks plugin's part of ConfigSchema (docs/webhooks.md). src/config.ts composes it. */
export const WebhooksConfigSchema = Type.Object({
  WEBHOOK_URLS: Type.String({ default: '', description: 'Comma-separated http(s) endpoints that receive every webhook event; empty = webhooks off' }),
  WEBHOOK_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'Standard Webhooks signing secret (whsec_ and base64); comma-separated to rotate: each delivery is signed with every one' })),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 20, description: 'Delivery attempts per event and endpoint before it is dropped (counted and logged)' }),
  WEBHOOK_RETRY_BASE_SECONDS: Type.Number({ default: 30, minimum: 0.001, maximum: 3600, description: 'First retry delay; each next one doubles (with jitter): 8 attempts span about an hour' }),
  WEBHOOK_TIMEOUT_SECONDS: Type.Number({ default: 10, minimum: 0.1, maximum: 120, description: 'An attempt without an answer within this time has failed' }),
  WEBHOOK_QUEUE_MAX: Type.Integer({ default: 10000, minimum: 1, maximum: 10_000_000, description: 'Pending events per endpoint at most (in memory, or in the Redis stream); beyond it new events are dropped and counted' })
})
export type WebhooksConfig = Static<typeof WebhooksConfigSchema>

/** Standard Webhooks secrets: `whsec_` and the base64 of 24 to 64 random bytes. */
const SECRET_PREFIX = 'whsec_'

/** The signing keys of WEBHOOK_SECRET, decoded; undefined when an entry is not a Standard Webhooks secret. */
export function webhookKeys (secrets: string | undefined): Buffer[] | undefined {
  const keys: Buffer[] = []
  for (const secret of list(secrets)) {
    if (!secret.startsWith(SECRET_PREFIX)) return undefined
    const encoded = secret.slice(SECRET_PREFIX.length)
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined
    const key = Buffer.from(encoded, 'base64')
    if (key.length < 24 || key.length > 64) return undefined
    keys.push(key)
  }
  return keys
}

/** Cross-variable rules for the webhook settings; returns a message naming the variables, or undefined. */
export function webhooksConfigProblem (config: WebhooksConfig): string | undefined {
  const urls = list(config.WEBHOOK_URLS)
  // The entry's position, not its text: an endpoint URL may carry a credential.
  for (const [i, url] of urls.entries()) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) return `WEBHOOK_URLS: entry ${i + 1} is not an http(s) URL`
  }
  if (config.WEBHOOK_SECRET !== undefined) {
    const keys = webhookKeys(config.WEBHOOK_SECRET)
    if (keys === undefined || keys.length === 0) return 'WEBHOOK_SECRET must be whsec_<base64 of 24 to 64 bytes>, comma-separated to rotate'
  }
  if (urls.length > 0 && config.WEBHOOK_SECRET === undefined) return 'WEBHOOK_URLS needs WEBHOOK_SECRET (every delivery is signed)'
  return undefined
}

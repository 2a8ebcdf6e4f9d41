import type { OpenAPIV3_2 } from '@fastify/swagger'
import { WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES } from './events.js'

type WebhooksObject = Record<string, OpenAPIV3_2.PathItemObject>

const HEADERS = [
  { name: 'webhook-id', description: 'Unique id of the event, the same on every retry: deduplicate on it' },
  { name: 'webhook-timestamp', description: 'Seconds since the epoch when this attempt was sent: reject stale ones' },
  { name: 'webhook-signature', description: 'Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per WEBHOOK_SECRET key' }
]

/** `webhook.peer.left` → `webhookPeerLeft` */
function operationId (type: string): string {
  return 'webhook' + type.split('.').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')
}

/** The OpenAPI 3.1 `webhooks` object: what Switchboard POSTs to every WEBHOOK_URLS endpoint (docs/webhooks.md). */
export function webhooksOpenApi (): WebhooksObject {
  return Object.fromEntries(WEBHOOK_EVENT_TYPES.map((type) => [type, {
    post: {
      operationId: operationId(type),
      tags: ['webhooks'],
      summary: type,
      description: `${WEBHOOK_EVENTS[type].description ?? ''} Signed per Standard Webhooks 1.0; retried with backoff until a 2xx answer.`,
      parameters: HEADERS.map((h) => ({ in: 'header', required: true, schema: { type: 'string' }, ...h })),
      requestBody: { required: true, content: { 'application/json': { schema: WEBHOOK_EVENTS[type] } } },
      security: [],
      responses: {
        200: { description: 'Any 2xx answer acknowledges the event' },
        default: { description: 'Anything else (or no answer within WEBHOOK_TIMEOUT_SECONDS): the event is retried' }
      }
    }
  }])) as WebhooksObject
}

/**
 * Writes the signaling protocol, generated from the TypeBox schemas in plugins/signaling/messages.ts,
 * as two documents for clients in other languages:
 *
 *   docs/protocol.schema.json  JSON Schema 2020-12, one $defs entry per message (client.* and server.*)
 *   docs/asyncapi.json         AsyncAPI 3.0 description of the WebSocket API at /v1/signal
 *
 *   npm run protocol            regenerate both
 *   npm run protocol -- --check exit 1 when the committed files are stale (test/docs does the same)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import {
  ClientMessageSchemas, ConnectionLimits, IceCandidateInit, PeerId, PeerInfo, PeerMeta, RoomName, ServerMessageSchemas, SUBPROTOCOL
} from '../plugins/signaling/messages.js'
import { SignalCode } from '../plugins/signaling/errors.js'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

export const PROTOCOL_SCHEMA_PATH = fileURLToPath(new URL('../docs/protocol.schema.json', import.meta.url))
export const ASYNCAPI_PATH = fileURLToPath(new URL('../docs/asyncapi.json', import.meta.url))

/** Building blocks several messages share: emitted once and referenced, so generated code gets one type each. */
const SHARED: Record<string, TSchema> = { RoomName, PeerId, PeerMeta, PeerInfo, IceCandidateInit, ConnectionLimits }

/** Codes an `error` message or a welcome `resumeError` may carry (SignalCode has them all, SWB_TOO_MANY_CONNECTIONS included). */
export const ERROR_CODES = [...new Set(Object.values(SignalCode))].sort()

const messageName = (schema: TSchema): string => String(schema.$id)

/** Plain JSON (TypeBox's symbol keys vanish), without `$id`s, with shared parts replaced by `$ref`s. */
function toJson (schema: unknown, refBase: string, top: string | undefined): Json {
  const sharedJson = new Map(Object.entries(SHARED).map(([name, s]) => [JSON.stringify(s), name]))
  const walk = (value: unknown, isRoot: boolean): Json => {
    if (Array.isArray(value)) return value.map((v) => walk(v, false))
    if (typeof value !== 'object' || value === null) return value as Json
    const shared = isRoot ? undefined : sharedJson.get(JSON.stringify(value))
    if (shared !== undefined && shared !== top) return { $ref: `${refBase}${shared}` }
    const out: JsonObject = {}
    for (const [key, v] of Object.entries(value)) {
      if (key === '$id') continue
      out[key] = walk(v, false)
    }
    return out
  }
  return walk(schema, true)
}

function definitions (refBase: string): JsonObject {
  const defs: JsonObject = {}
  for (const [name, schema] of Object.entries(SHARED)) defs[name] = toJson(schema, refBase, name)
  for (const schema of [...ClientMessageSchemas, ...ServerMessageSchemas]) defs[messageName(schema)] = toJson(schema, refBase, undefined)
  defs.ClientMessage = {
    description: 'Any message a client sends (a JSON text frame).',
    oneOf: ClientMessageSchemas.map((s) => ({ $ref: `${refBase}${messageName(s)}` }))
  }
  defs.ServerMessage = {
    description: 'Any message the server sends (a JSON text frame). Clients must ignore message types they do not know.',
    oneOf: ServerMessageSchemas.map((s) => ({ $ref: `${refBase}${messageName(s)}` }))
  }
  defs.ErrorCode = {
    description: 'Codes of `error` messages and welcome `resumeError`s at the time of writing; clients must accept others.',
    type: 'string',
    enum: ERROR_CODES
  }
  return defs
}

/** docs/protocol.schema.json */
export function buildProtocolSchema (): JsonObject {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `Switchboard signaling protocol (${SUBPROTOCOL})`,
    description: 'Generated from plugins/signaling/messages.ts by `npm run protocol`; do not edit. ' +
      'Every frame is one JSON object; `$defs/client.<type>` are the messages a client sends, `$defs/server.<type>` ' +
      'the ones it receives. See docs/signaling.md.',
    oneOf: [{ $ref: '#/$defs/ClientMessage' }, { $ref: '#/$defs/ServerMessage' }],
    $defs: definitions('#/$defs/')
  }
}

/** Client requests the server answers with a specific message (AsyncAPI `reply`). */
const REPLIES: Record<string, string[]> = {
  join: ['server.joined', 'server.error'],
  leave: ['server.left', 'server.error'],
  ping: ['server.pong'],
  refresh: ['server.refreshed', 'server.error']
}

const operationId = (action: 'send' | 'receive', type: string): string =>
  action + type.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')

/** docs/asyncapi.json. Operations are the server's: it receives client messages and sends server messages. */
export function buildAsyncApi (): JsonObject {
  const channelRef = { $ref: '#/channels/signal' }
  const channelMessage = (name: string): Json => ({ $ref: `#/channels/signal/messages/${name}` })
  const schemas = definitions('#/components/schemas/')
  const messages: JsonObject = {}
  const channelMessages: JsonObject = {}
  const operations: JsonObject = {}
  for (const [direction, list] of [['client', ClientMessageSchemas], ['server', ServerMessageSchemas]] as const) {
    for (const schema of list) {
      const name = messageName(schema)
      const type = String(schema.properties.type.const)
      messages[name] = {
        name: type,
        title: `${type} (${direction === 'client' ? 'client → server' : 'server → client'})`,
        summary: String(schema.description ?? ''),
        contentType: 'application/json',
        payload: { $ref: `#/components/schemas/${name}` }
      }
      channelMessages[name] = { $ref: `#/components/messages/${name}` }
      const action = direction === 'client' ? 'receive' : 'send'
      const reply = direction === 'client' ? REPLIES[type] : undefined
      operations[operationId(action, type)] = {
        action,
        channel: channelRef,
        summary: String(schema.description ?? ''),
        messages: [channelMessage(name)],
        ...(reply && { reply: { channel: channelRef, messages: reply.map(channelMessage) } })
      }
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchboard signaling',
      version: SUBPROTOCOL,
      description: 'WebRTC signaling over one WebSocket per peer. Generated from plugins/signaling/messages.ts by ' +
        '`npm run protocol`; do not edit. The operations describe the Switchboard server: it receives the client ' +
        'messages and sends the server messages. Sequence numbers, resume, limits, close codes and error codes are ' +
        'described in docs/signaling.md.'
    },
    defaultContentType: 'application/json',
    servers: {
      switchboard: {
        host: '{host}',
        protocol: 'wss',
        description: 'A Switchboard deployment (ws:// without TLS in development).',
        variables: { host: { default: 'localhost:8080', description: 'host[:port] of the deployment' } },
        security: [
          { $ref: '#/components/securitySchemes/bearerHeader' },
          { $ref: '#/components/securitySchemes/bearerSubprotocol' },
          { $ref: '#/components/securitySchemes/accessTokenQuery' }
        ]
      }
    },
    channels: {
      signal: {
        address: '/v1/signal',
        title: 'Signaling socket',
        description: `Upgrade with subprotocol \`${SUBPROTOCOL}\`. The server's first message is \`welcome\`; ` +
          'every server message carries `seq`. Reconnect with `resume` and `lastSeq` to resume a dropped session.',
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                resume: { type: 'string', minLength: 1, maxLength: 128, description: 'resumeToken of the last welcome' },
                lastSeq: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Highest seq of a replayed message the client processed; required with resume' },
                access_token: { type: 'string', description: 'JWT, for clients that can set neither a header nor subprotocols' }
              }
            },
            bindingVersion: '0.1.0'
          }
        }
      }
    },
    operations,
    components: {
      schemas,
      messages,
      securitySchemes: {
        bearerHeader: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Authorization: Bearer <jwt> on the upgrade request (not possible from browsers).' },
        bearerSubprotocol: {
          type: 'httpApiKey',
          in: 'header',
          name: 'Sec-WebSocket-Protocol',
          description: `Offer the subprotocols \`${SUBPROTOCOL}\` and \`bearer.<jwt>\`; the server selects \`${SUBPROTOCOL}\`. The way browsers pass the token.`
        },
        accessTokenQuery: { type: 'httpApiKey', in: 'query', name: 'access_token', description: 'Last resort: query strings end up in logs.' }
      }
    }
  }
}

/** The exact text committed for a document: 2-space JSON and a final newline. */
export function render (doc: JsonObject): string {
  return `${JSON.stringify(doc, null, 2)}\n`
}

export const OUTPUTS = [
  { path: PROTOCOL_SCHEMA_PATH, build: buildProtocolSchema },
  { path: ASYNCAPI_PATH, build: buildAsyncApi }
]

function main (argv: string[]): number {
  const check = argv.includes('--check')
  let stale = 0
  for (const { path, build } of OUTPUTS) {
    const text = render(build())
    if (check) {
      let current = ''
      try { current = readFileSync(path, 'utf8') } catch {}
      if (current !== text) {
        stale++
        process.stderr.write(`${path} is stale: run npm run protocol\n`)
      }
    } else {
      writeFileSync(path, text)
      process.stdout.write(`wrote ${path}\n`)
    }
  }
  return stale === 0 ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2))
}

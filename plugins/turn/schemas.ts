import { Type, type Static } from '@sinclair/typebox'
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from './credentials.js'

/** One RTCIceServer, as the browser's RTCConfiguration takes it. */
export const IceServerSchema = Type.Object({
  urls: Type.Array(Type.String(), { minItems: 1, description: 'stun:, stuns:, turn: or turns: URLs, already checked with the browser\'s rules' }),
  username: Type.Optional(Type.String({ description: 'TURN username; for the hmac provider "<expiry-unix-seconds>:<user id>"' })),
  credential: Type.Optional(Type.String({ description: 'TURN password (secret: keep it out of logs and URLs)' }))
}, { title: 'IceServer' })
export type IceServer = Static<typeof IceServerSchema>

export const TtlSchema = Type.Integer({ minimum: MIN_TTL_SECONDS, maximum: MAX_TTL_SECONDS })

export const CredentialsBodySchema = Type.Object({
  ttl: Type.Optional(Type.Integer({
    minimum: MIN_TTL_SECONDS,
    maximum: MAX_TTL_SECONDS,
    description: 'Requested lifetime in seconds; clamped to TURN_TTL_SECONDS'
  }))
}, { additionalProperties: false, title: 'TurnCredentialsRequest' })
export type CredentialsBody = Static<typeof CredentialsBodySchema>

export const CredentialsResponseSchema = Type.Object({
  iceServers: Type.Array(IceServerSchema),
  ttl: Type.Integer({ description: 'Lifetime granted, in seconds' }),
  expiresAt: Type.String({ format: 'date-time', description: 'ISO-8601 UTC instant after which TURN refuses new allocations' }),
  refreshAt: Type.String({ format: 'date-time', description: 'ISO-8601 UTC instant (80% of ttl) when a long call should fetch fresh credentials' })
}, { title: 'TurnCredentials', description: 'An RTCConfiguration: pass it as-is to new RTCPeerConnection()' })
export type CredentialsResponse = Static<typeof CredentialsResponseSchema>

// The compat endpoint takes its parameters from the query (GET, and Janus' POST) or a form/JSON body.
const restParams = {
  service: Type.Optional(Type.String({ maxLength: 32, description: 'Must be "turn"' })),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'The application\'s user id (mapped to an opaque id when not [A-Za-z0-9_-]{1,64})' })),
  key: Type.Optional(Type.String({ maxLength: 512, description: 'API key (draft-uberti name)' })),
  api: Type.Optional(Type.String({ maxLength: 512, description: 'API key (the name Janus also sends)' }))
}
export const RestQuerySchema = Type.Object(restParams, { title: 'TurnRestQuery' })
export const RestBodySchema = Type.Union([Type.Object(restParams), Type.Null()], { title: 'TurnRestBody' })
export type RestParams = Static<typeof RestQuerySchema>

export const RestHeadersSchema = Type.Object({
  'x-api-key': Type.Optional(Type.String({ maxLength: 512 }))
})

export const RestResponseSchema = Type.Object({
  username: Type.String(),
  password: Type.String(),
  ttl: Type.Integer(),
  uris: Type.Array(Type.String())
}, { title: 'TurnRestCredentials', description: 'draft-uberti-behave-turn-rest-00 §2.2 response' })
export type RestResponse = Static<typeof RestResponseSchema>

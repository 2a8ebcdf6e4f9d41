import { Type, type Static } from '@sinclair/typebox'
import { MAX_ROOM_GRANTS, NameSchema, RoleSchema, RoomGrantClaimSchema, SubSchema } from './claims.js'

export const DEV_TOKEN_TTL = { min: 60, max: 86400, default: 3600 } as const
/** Development tokens grant every room unless asked otherwise: under ROOM_GRANTS=required a token without grants joins nothing. */
export const DEV_TOKEN_DEFAULT_ROOMS = ['*']

/** POST /v1/dev/token body: the claims of the token to mint. */
export const DevTokenBodySchema = Type.Object({
  sub: Type.Optional(SubSchema),
  name: Type.Optional(NameSchema),
  role: Type.Optional(RoleSchema),
  // Optional with a default: filled in when absent, and not `required` in the OpenAPI document.
  rooms: Type.Optional(Type.Array(RoomGrantClaimSchema, {
    maxItems: MAX_ROOM_GRANTS,
    default: DEV_TOKEN_DEFAULT_ROOMS,
    description: 'Room grants, as in the rooms claim; [] grants no room'
  })),
  ttl: Type.Integer({
    minimum: DEV_TOKEN_TTL.min,
    maximum: DEV_TOKEN_TTL.max,
    default: DEV_TOKEN_TTL.default,
    description: 'Token lifetime in seconds'
  })
}, { additionalProperties: false, title: 'DevTokenRequest' })
export type DevTokenBody = Static<typeof DevTokenBodySchema>

export const DevTokenResponseSchema = Type.Object({
  token: Type.String({ description: 'HS256 JWT signed with the per-process development secret' }),
  expiresAt: Type.String({ format: 'date-time', description: 'When the token expires (ISO 8601, UTC)' })
}, { title: 'DevTokenResponse' })
export type DevTokenResponse = Static<typeof DevTokenResponseSchema>

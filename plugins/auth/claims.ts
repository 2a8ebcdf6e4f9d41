import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Identity, RoomGrant } from './types.js'

// Printable text only: these values end up in logs and registry keys, so no control characters.
const PRINTABLE = '^[^\\u0000-\\u001f\\u007f]+$'

export const SubSchema = Type.String({ minLength: 1, maxLength: 128, pattern: PRINTABLE, description: 'User id' })
export const NameSchema = Type.String({ minLength: 1, maxLength: 256, pattern: PRINTABLE, description: 'Display name' })
export const RoleSchema = Type.String({ minLength: 1, maxLength: 64, pattern: PRINTABLE, description: 'Role, e.g. host or guest' })
export const RoomPatternSchema = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: PRINTABLE,
  description: 'Exact room name, or a prefix ending in * (e.g. clinic-42/* matches clinic-42/a, not clinic-42/); * alone means any room'
})

/** Capacity of the rooms a grant's holder starts (e.g. a group-therapy room of 8). */
export const GrantCapacitySchema = Type.Integer({ minimum: 1, maximum: 10000, description: 'Capacity of a room this token starts; the admin API\'s room settings win over it' })

/** One entry of the `rooms` claim: a bare room (pattern) or `{ room, role?, capacity? }`. */
export const RoomGrantClaimSchema = Type.Union([
  RoomPatternSchema,
  Type.Object({ room: RoomPatternSchema, role: Type.Optional(RoleSchema), capacity: Type.Optional(GrantCapacitySchema) })
])
/** Most grants one token may carry, from its rooms claim and from its scopes, each. */
export const MAX_ROOM_GRANTS = 256
export const RoomsClaimSchema = Type.Array(RoomGrantClaimSchema, { maxItems: MAX_ROOM_GRANTS })

/**
 * The claims Switchboard reads at fixed names. Other claims are allowed (IdPs add many) and ignored.
 * The room grants are read separately (grants.ts): their claim is configurable (JWT_ROOMS_CLAIM).
 * `exp` presence and the time checks are enforced by jose before this schema runs.
 */
export const ClaimsSchema = Type.Object({
  sub: SubSchema,
  exp: Type.Number(),
  iat: Type.Optional(Type.Number()),
  name: Type.Optional(NameSchema),
  role: Type.Optional(RoleSchema)
})
export type Claims = Static<typeof ClaimsSchema>
export type RoomsClaim = Static<typeof RoomsClaimSchema>

// Compiled once at module load; verify() runs on every request and socket.
const claimsCheck = TypeCompiler.Compile(ClaimsSchema)
const roomsClaimCheck = TypeCompiler.Compile(RoomsClaimSchema)
const roomPatternCheck = TypeCompiler.Compile(RoomPatternSchema)
const roleCheck = TypeCompiler.Compile(RoleSchema)

export function validClaims (payload: unknown): payload is Claims {
  return claimsCheck.Check(payload)
}

export function validRoomsClaim (value: unknown): value is RoomsClaim {
  return roomsClaimCheck.Check(value)
}

/** A grant taken from elsewhere than the rooms claim (a scope) follows the same rules. */
export function validGrant (grant: RoomGrant): boolean {
  return roomPatternCheck.Check(grant.room) && (grant.role === undefined || roleCheck.Check(grant.role))
}

export function normaliseRooms (rooms: RoomsClaim): RoomGrant[] {
  return rooms.map((entry) => {
    if (typeof entry === 'string') return { room: entry }
    const grant: RoomGrant = { room: entry.room }
    if (entry.role !== undefined) grant.role = entry.role
    if (entry.capacity !== undefined) grant.capacity = entry.capacity
    return grant
  })
}

/**
 * Picks the fields of a validated claims set that make up an Identity (nothing else is kept), with the
 * room grants read from the token (undefined: the token does not restrict rooms).
 */
export function identityFromClaims (claims: Claims, rooms: RoomGrant[] | undefined): Identity {
  const identity: Identity = { sub: claims.sub, exp: claims.exp }
  if (claims.iat !== undefined) identity.iat = claims.iat
  if (claims.name !== undefined) identity.name = claims.name
  if (claims.role !== undefined) identity.role = claims.role
  if (rooms !== undefined) identity.rooms = rooms
  return identity
}

/**
 * The grant that admits `identity` to `room`, or undefined when none does.
 * An exact grant wins over a prefix (`clinic-42/*`), a longer prefix over a shorter one, and `*` matches
 * any room. A prefix grant needs at least one character after its prefix: `clinic-42/*` matches
 * `clinic-42/a`, not `clinic-42/` (nor `clinic-42`). An identity without grants (`rooms` undefined, only
 * under ROOM_GRANTS=any) is unrestricted. The returned role falls back to the identity's global role
 * when the grant names none.
 */
export function grantFor (identity: Pick<Identity, 'role' | 'rooms'>, room: string): RoomGrant | undefined {
  const withRole = (grant: RoomGrant): RoomGrant => {
    const role = grant.role ?? identity.role
    const found: RoomGrant = role === undefined ? { room: grant.room } : { room: grant.room, role }
    if (grant.capacity !== undefined) found.capacity = grant.capacity
    return found
  }
  if (identity.rooms === undefined) return withRole({ room })

  const exact = identity.rooms.find((g) => g.room === room)
  if (exact) return withRole(exact)

  let best: RoomGrant | undefined
  for (const grant of identity.rooms) {
    if (!grant.room.endsWith('*')) continue
    const prefix = grant.room.slice(0, -1)
    if (room.length > prefix.length && room.startsWith(prefix) && (best === undefined || grant.room.length > best.room.length)) best = grant
  }
  return best && withRole(best)
}

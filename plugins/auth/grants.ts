import { MAX_ROOM_GRANTS, normaliseRooms, validGrant, validRoomsClaim } from './claims.js'
import { claimReader } from './claim-path.js'
import type { RoomGrant } from './types.js'

/** ROOM_GRANTS: whether a token must grant a room to join it (`required`) or may join any room when it grants none (`any`). */
export type RoomGrantsMode = 'required' | 'any'

/** OAuth scopes that grant rooms: `room:<pattern>` or `room:<pattern>:<role>`. */
export const ROOM_SCOPE_PREFIX = 'room:'

export interface GrantReaderOptions {
  /** JWT_ROOMS_CLAIM: dotted path of the claim holding grants (see claim-path.ts). */
  roomsClaim: string
  mode: RoomGrantsMode
}

/** A token's grants: undefined means unrestricted (ROOM_GRANTS=any and no grant at all); ok false means a malformed grant. */
export type GrantsResult = { ok: true, rooms: RoomGrant[] | undefined } | { ok: false }

/**
 * `scope` as issued: a space-separated string (RFC 6749 §3.3, RFC 9068), or an array of strings as some
 * IdPs put it. Anything else is not a scope Switchboard understands, and grants nothing.
 */
function scopeEntries (scope: unknown): readonly unknown[] {
  if (typeof scope === 'string') return scope.split(' ')
  return Array.isArray(scope) ? scope : []
}

/**
 * The `room:` scopes as grants; false when one of them is malformed. The role is what follows the
 * last `:`, so a room name holding `:` needs the role form (`room:a:b:guest`). Other scopes
 * (`openid`, `profile`...) are none of our business and are skipped.
 */
function grantsFromScope (scope: unknown): RoomGrant[] | false {
  const grants: RoomGrant[] = []
  for (const entry of scopeEntries(scope)) {
    if (typeof entry !== 'string' || !entry.startsWith(ROOM_SCOPE_PREFIX)) continue
    const rest = entry.slice(ROOM_SCOPE_PREFIX.length)
    const colon = rest.lastIndexOf(':')
    const grant: RoomGrant = colon === -1 ? { room: rest } : { room: rest.slice(0, colon), role: rest.slice(colon + 1) }
    if (!validGrant(grant) || grants.length === MAX_ROOM_GRANTS) return false
    grants.push(grant)
  }
  return grants
}

/**
 * Reads the room grants of a verified payload: the JWT_ROOMS_CLAIM claim, then the `room:` scopes. A
 * malformed grant refuses the whole token (as any invalid claim does), rather than silently granting
 * less than the IdP meant. Without any grant, ROOM_GRANTS decides: no room (`required`) or every room
 * (`any`, where a present but empty rooms claim still grants nothing).
 */
export function createGrantReader (opts: GrantReaderOptions): (payload: Record<string, unknown>) => GrantsResult {
  const readRooms = claimReader(opts.roomsClaim)
  const required = opts.mode === 'required'
  return (payload) => {
    const claim = readRooms(payload)
    if (claim !== undefined && !validRoomsClaim(claim)) return { ok: false }
    const fromScope = grantsFromScope(payload.scope)
    if (fromScope === false) return { ok: false }
    if (claim === undefined && fromScope.length === 0) return { ok: true, rooms: required ? [] : undefined }
    return { ok: true, rooms: [...(claim === undefined ? [] : normaliseRooms(claim)), ...fromScope] }
  }
}

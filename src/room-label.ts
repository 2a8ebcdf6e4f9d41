import { createHmac, randomBytes } from 'node:crypto'

/** How a room name appears in the application log and the audit stream (LOG_ROOM_NAMES). */
export type RoomLabel = (room: string) => string

/** A hashed label is this prefix and 16 base64url characters (96 bits) of HMAC-SHA256. */
export const HASHED_ROOM_PREFIX = 'h:'

/**
 * `plain` logs room names as they are. `hash` logs a keyed HMAC of each name instead: a name such as
 * `dr-smith-jane-doe` can identify a patient, but operators still need to follow one room's lines. The
 * key (LOG_ROOM_NAMES_SECRET) makes the label useless for guessing names; without it a random key is
 * drawn, so labels correlate within one process only (`keyed` tells the caller to say so).
 */
export function roomLabel (mode: 'plain' | 'hash', secret: string | undefined): { label: RoomLabel, keyed: boolean } {
  if (mode === 'plain') return { label: (room) => room, keyed: true }
  const key = secret ?? randomBytes(32)
  return {
    label: (room) => HASHED_ROOM_PREFIX + createHmac('sha256', key).update(room).digest('base64url').slice(0, 16),
    keyed: secret !== undefined
  }
}

/**
 * pino's `formatters.log`: every line's `room` field (wherever it is logged, the audit stream included)
 * becomes its label, and a URL path naming a room (`/v1/admin/rooms/<room>`) gets the same treatment.
 */
export function labelRoomFields (label: RoomLabel): (fields: Record<string, unknown>) => Record<string, unknown> {
  return (fields) => {
    if (typeof fields.room !== 'string') return fields
    return { ...fields, room: label(fields.room) }
  }
}

const ROOM_PATH = /^(\/v1\/admin\/rooms\/)([^/?]+)/

/** `/v1/admin/rooms/clinic-42%2Fa/peers/x` → `/v1/admin/rooms/h:…/peers/x` (the segment is URL-encoded). */
export function labelRoomPath (url: string, label: RoomLabel): string {
  const m = ROOM_PATH.exec(url)
  if (m === null) return url
  let room: string
  try { room = decodeURIComponent(m[2] as string) } catch { room = m[2] as string }
  return m[1] as string + encodeURIComponent(label(room)) + url.slice(m[0].length)
}

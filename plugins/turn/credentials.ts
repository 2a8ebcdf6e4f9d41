import { createHash, createHmac, type KeyObject } from 'node:crypto'

/** Bounds shared by the API, the config schema and coturn-compatible issuance (coturn itself has no upper limit). */
export const MIN_TTL_SECONDS = 60
export const MAX_TTL_SECONDS = 86_400

/** Subs that may appear as-is in the TURN USERNAME (sent in clear text on the wire). */
const SAFE_USER_ID = /^[A-Za-z0-9_-]{1,64}$/
/** Mapped ids start with "~", which no safe sub contains, so a mapped id never equals a real sub. */
const MAPPED_PREFIX = '~'

/**
 * The user part of a TURN REST username. coturn splits the username at ':' and the USERNAME is visible
 * on the wire, so a sub outside [A-Za-z0-9_-]{1,64} (emails, URLs, anything with ':') becomes an opaque,
 * stable id: "~" + base64url(first 16 bytes of SHA-256(sub)).
 */
export function turnUserId (sub: string): string {
  if (SAFE_USER_ID.test(sub)) return sub
  return MAPPED_PREFIX + createHash('sha256').update(sub, 'utf8').digest().subarray(0, 16).toString('base64url')
}

export interface RestCredential {
  username: string
  credential: string
  /** Expiry in whole seconds since the epoch: the timestamp inside the username. */
  expiresAtSeconds: number
}

/**
 * TURN REST API credential (draft-uberti-behave-turn-rest, coturn use-auth-secret):
 * username "<expiry>:<userId>" (or "<expiry>" alone), credential base64(HMAC-SHA1(secret, username)), padded.
 * coturn accepts only SHA-1, padded base64 and an integer-second timestamp: anything else is a silent 401.
 * `secret` as a string is used as its UTF-8 bytes; the provider passes a KeyObject made once at start.
 */
export function turnRestCredential (secret: string | KeyObject, userId: string | undefined, ttlSeconds: number, nowMs = Date.now()): RestCredential {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError('ttlSeconds must be a positive integer')
  if (userId !== undefined && userId.includes(':')) throw new RangeError('userId must not contain ":"')
  const expiresAtSeconds = Math.floor(nowMs / 1000) + ttlSeconds
  const username = userId === undefined ? `${expiresAtSeconds}` : `${expiresAtSeconds}:${userId}`
  const credential = createHmac('sha1', secret).update(username, 'utf8').digest('base64')
  return { username, credential, expiresAtSeconds }
}

/** The ttl actually granted: the client may ask for less than the configured maximum, never more. */
export function effectiveTtl (requested: number | undefined, configuredMax: number): number {
  return requested === undefined ? configuredMax : Math.min(requested, configuredMax)
}

/**
 * When a long call should fetch fresh credentials: at 80% of the ttl. coturn keeps a live allocation
 * refreshable after expiry, but an ICE restart needs a valid credential.
 */
export function refreshAtSeconds (issuedAtSeconds: number, ttlSeconds: number): number {
  return issuedAtSeconds + Math.floor(ttlSeconds * 0.8)
}

/**
 * Every answer carries two instants in whole seconds, and under load most answers in one second share
 * them: remembering the last few formatted values saves a Date and a toISOString per field.
 */
const recentIso = new Map<number, string>()
const RECENT_ISO_MAX = 8

export function isoFromSeconds (seconds: number): string {
  let iso = recentIso.get(seconds)
  if (iso === undefined) {
    iso = new Date(seconds * 1000).toISOString()
    if (recentIso.size >= RECENT_ISO_MAX) recentIso.clear()
    recentIso.set(seconds, iso)
  }
  return iso
}

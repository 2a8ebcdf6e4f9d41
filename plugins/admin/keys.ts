import { createHash, timingSafeEqual } from 'node:crypto'

function sha256 (value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/** The audit stream's name for a key: a short hash, so a log reader can tell keys apart without learning any. */
export function keyId (key: string): string {
  return `key-${sha256(key).toString('base64url').slice(0, 10)}`
}

/**
 * Checks `Authorization: Bearer <key>` against the configured keys: the id of the key presented, or
 * undefined. Every key is compared (digests, constant time), so timing tells neither which key
 * matched nor how much of one.
 */
export function adminKeyChecker (keys: readonly string[]): (authorization: string | undefined) => string | undefined {
  const known = keys.map((key) => ({ digest: sha256(key), id: keyId(key) }))
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '')
    const digest = sha256(match?.[1] ?? '')
    let id: string | undefined
    for (const key of known) if (timingSafeEqual(digest, key.digest) && match !== null) id = key.id
    return id
  }
}

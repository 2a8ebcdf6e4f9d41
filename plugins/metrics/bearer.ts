import { createHash, timingSafeEqual } from 'node:crypto'

function sha256 (value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/**
 * A checker for `Authorization: Bearer <token>` against one expected token. Both sides are hashed
 * first, so the comparison takes the same time whatever the length or the first differing byte.
 */
export function bearerChecker (expected: string): (authorization: string | undefined) => boolean {
  const want = sha256(expected)
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '')
    // Still compare on a malformed header, so its timing looks like a wrong token's.
    return timingSafeEqual(sha256(match?.[1] ?? ''), want) && match !== null
  }
}

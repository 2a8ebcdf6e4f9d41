/** Reads one claim of a verified payload; undefined when it is absent. */
export type ClaimReader = (payload: Record<string, unknown>) => unknown

/**
 * A reader for the claim named by a dotted path (JWT_ROOMS_CLAIM), e.g. `rooms` or `app.rooms`.
 *
 * Claim names may contain dots themselves: IdPs namespace custom claims with a URL
 * (`https://example.com/claims`). So at each level the longest run of segments that is a key of the
 * object wins: `https://example.com/claims.rooms` reads `rooms` inside the claim
 * `https://example.com/claims`, and a flat claim literally named `app.rooms` wins over `rooms` inside
 * `app`. There is no backtracking: once a key matched, the rest of the path is looked up below it.
 * The candidate keys are joined here, once, so a verification only does property lookups.
 */
export function claimReader (path: string): ClaimReader {
  const segments = path.split('.')
  const steps = segments.map((_, start) => {
    const keys: Array<{ key: string, next: number }> = []
    for (let end = segments.length; end > start; end--) keys.push({ key: segments.slice(start, end).join('.'), next: end })
    return keys
  })
  return (payload) => {
    let value: unknown = payload
    let at = 0
    while (at < segments.length) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
      const object = value as Record<string, unknown>
      const step = steps[at]!.find(({ key }) => Object.hasOwn(object, key))
      if (step === undefined) return undefined
      value = object[step.key]
      at = step.next
    }
    return value
  }
}

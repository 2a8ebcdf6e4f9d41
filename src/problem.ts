import { Type, type Static, type TSchema } from '@sinclair/typebox'

/** RFC 9457 problem details, extended with a stable machine-readable `code`. */
export const ProblemSchema = Type.Object({
  type: Type.String({ description: 'URI reference naming the problem type (urn:switchboard:problem:<code>)' }),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  code: Type.String({ description: 'Stable error code, e.g. SWB_AUTH_TOKEN_EXPIRED' }),
  detail: Type.Optional(Type.String()),
  instance: Type.Optional(Type.String()),
  requestId: Type.Optional(Type.String())
}, { title: 'Problem' })
export type Problem = Static<typeof ProblemSchema>

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export function problemType (code: string): string {
  return `urn:switchboard:problem:${code.toLowerCase()}`
}

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request (validation failed)', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 409: 'Conflict',
  413: 'Payload too large', 415: 'Unsupported media type', 426: 'Upgrade required', 429: 'Too many requests (Retry-After)',
  500: 'Internal error', 502: 'Upstream failure', 503: 'Service unavailable (retry shortly)'
}

/**
 * Response schemas for the given error statuses, so every route declares its problem shapes, under the
 * media type they are sent with (application/problem+json), which the OpenAPI document then shows.
 */
export function problemResponses<S extends number> (...statuses: S[]): Record<S, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, {
    description: STATUS_DESCRIPTIONS[s] ?? 'Error',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } }
  }])) as unknown as Record<S, TSchema>
}

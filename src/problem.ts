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

/** Response schemas for the given error statuses, so every route declares its problem shapes. */
export function problemResponses<S extends number> (...statuses: S[]): Record<S, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ProblemSchema])) as unknown as Record<S, TSchema>
}

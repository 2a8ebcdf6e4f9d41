import { Type, type Static } from '@sinclair/typebox'
import { list } from '../../src/env-list.js'
import { DEFAULT_REVOCATION_RETENTION_SECONDS } from '../registry/revocations.js'

/** Shortest admin key accepted: a guessable key would hand out control of every room. */
export const MIN_ADMIN_KEY_LENGTH = 24

/** The admin plugin's part of ConfigSchema. src/config.ts composes it. */
export const AdminConfigSchema = Type.Object({
  ADMIN_API_KEYS: Type.Optional(Type.String({
    minLength: 1,
    description: `Comma-separated keys of the admin API (/v1/admin/, Authorization: Bearer <key>), each at least ${MIN_ADMIN_KEY_LENGTH} characters; several allow rotation; unset = the admin API is off (404)`
  })),
  ADMIN_RATE_LIMIT_MAX: Type.Integer({ default: 600, minimum: 1, maximum: 1_000_000, description: 'Admin API calls per client IP per window' }),
  ADMIN_RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ default: 60, minimum: 1, maximum: 3600, description: 'Window of ADMIN_RATE_LIMIT_MAX' }),
  REVOCATION_RETENTION_SECONDS: Type.Integer({
    default: DEFAULT_REVOCATION_RETENTION_SECONDS,
    minimum: 60,
    maximum: 366 * 86400,
    description: 'How long a user\'s revocation (DELETE /v1/admin/users/{userId}/sessions) is kept: set it to the longest lifetime of the tokens you issue; a token issued before a revocation and still valid after this is accepted again'
  })
})
export type AdminConfig = Static<typeof AdminConfigSchema>

/** Cross-variable rules of the admin settings; returns a message naming the variable, or undefined. */
export function adminConfigProblem (config: AdminConfig): string | undefined {
  if (config.ADMIN_API_KEYS === undefined) return undefined
  const keys = list(config.ADMIN_API_KEYS)
  if (keys.length === 0) return 'ADMIN_API_KEYS: no key in the list (unset it to turn the admin API off)'
  if (keys.some((k) => k.length < MIN_ADMIN_KEY_LENGTH)) return `ADMIN_API_KEYS: every key must be at least ${MIN_ADMIN_KEY_LENGTH} characters`
  return undefined
}

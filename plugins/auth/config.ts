import { Type, type Static } from '@sinclair/typebox'

/** The auth plugin's part of ConfigSchema: how JWTs are verified. src/config.ts composes it. */
export const AuthConfigSchema = Type.Object({
  // minLength counts characters, each at least one UTF-8 byte: 32 characters are at least the 32 bytes an HMAC key needs.
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'HS256/384/512 shared secret, at least 32 characters' })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1, description: 'PEM (SPKI) or JWK (JSON) public key' })),
  JWT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'JWKS endpoint of the identity provider (keys cached, refetched on an unknown kid)' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'Required `iss`, when set' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'Required `aud` (comma-separated: any of them), when set' })),
  JWT_ALGORITHMS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated allowlist; defaults by key type' })),
  JWT_CLOCK_TOLERANCE_SECONDS: Type.Integer({ default: 5, minimum: 0, maximum: 300, description: 'Leeway for exp/nbf' }),
  JWT_JWKS_COOLDOWN_SECONDS: Type.Integer({ default: 30, minimum: 0, maximum: 3600, description: 'Least time between two JWKS fetches (an unknown kid does not hammer the IdP)' }),
  JWT_JWKS_CACHE_SECONDS: Type.Integer({ default: 600, minimum: 1, maximum: 86400, description: 'How long fetched keys are trusted before a refresh' }),
  JWT_JWKS_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 60000, description: 'JWKS fetch timeout' }),
  JWT_ROOMS_CLAIM: Type.String({ default: 'rooms', minLength: 1, maxLength: 256, description: 'Dotted path of the claim holding room grants (e.g. app.rooms, https://example.com/claims.rooms); `room:` scopes grant rooms too' }),
  ROOM_GRANTS: Type.Union([Type.Literal('required'), Type.Literal('any')], { default: 'required', description: 'required: a token joins only the rooms it grants (none without grants, SWB_ROOM_FORBIDDEN); any: a token without grants joins every room' })
})
export type AuthConfig = Static<typeof AuthConfigSchema>

/** Cross-variable rules of the auth settings; returns a message naming the variables, or undefined. */
export function authConfigProblem (config: AuthConfig & { NODE_ENV: string }): string | undefined {
  const keyModes = [config.JWT_SECRET, config.JWT_PUBLIC_KEY, config.JWT_JWKS_URL].filter(Boolean).length
  if (keyModes > 1) return 'JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL are exclusive: set only one'
  if (config.NODE_ENV === 'production' && keyModes === 0) {
    return 'NODE_ENV=production needs JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL (no development secret in production)'
  }
  return undefined
}

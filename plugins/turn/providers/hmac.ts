import { createSecretKey, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { turnRestCredential, turnUserId } from '../credentials.js'
import type { IssueRequest, IssuedCredentials, TurnProvider } from './types.js'

export interface HmacProviderOptions {
  /** TURN_SECRET entries; the first signs, the others are only for the TURN servers (rotation). */
  secrets: string[]
  turnUrls: string[]
  production: boolean
  log: FastifyBaseLogger
}

/** TURN REST API shared-secret credentials (coturn use-auth-secret / static-auth-secret). */
export function createHmacProvider (options: HmacProviderOptions): TurnProvider {
  let signingSecret = options.secrets[0]
  if (signingSecret === undefined) {
    // config.ts already refuses this in production; keep the guard so a bypassed check cannot sign with a random key.
    if (options.production) throw new Error('TURN_PROVIDER=hmac in production needs TURN_SECRET')
    signingSecret = randomBytes(32).toString('base64url')
    options.log.warn('TURN_SECRET is not set: signing TURN credentials with a random secret for this process only; no TURN server will accept them')
  }
  // A KeyObject made once: createHmac() with a string secret would copy and re-encode it on every credential.
  const secret = createSecretKey(Buffer.from(signingSecret, 'utf8'))
  return {
    name: 'hmac',
    async issue (request: IssueRequest): Promise<IssuedCredentials> {
      const nowMs = Date.now()
      const userId = request.user === undefined ? undefined : turnUserId(request.user)
      const { username, credential, expiresAtSeconds } = turnRestCredential(secret, userId, request.ttl, nowMs)
      return {
        iceServers: options.turnUrls.length > 0 ? [{ urls: options.turnUrls, username, credential }] : [],
        ttl: request.ttl,
        issuedAtSeconds: Math.floor(nowMs / 1000),
        expiresAtSeconds
      }
    }
  }
}

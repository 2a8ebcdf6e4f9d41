import type { IceServer } from '../schemas.js'

export interface IssueRequest {
  /** The authenticated user (JWT sub) or the compat endpoint's `username`; absent for an anonymous compat call. */
  user?: string
  /** Lifetime to ask for, already validated and clamped to TURN_TTL_SECONDS. */
  ttl: number
}

export interface IssuedCredentials {
  /** TURN servers with their credentials (configured STUN_URLS are added by the route, not here). */
  iceServers: IceServer[]
  /** Lifetime actually granted (a provider may grant less than asked). */
  ttl: number
  issuedAtSeconds: number
  expiresAtSeconds: number
}

/** One interface for every credential source; TURN_PROVIDER picks the implementation at start. */
export interface TurnProvider {
  readonly name: 'hmac' | 'cloudflare' | 'twilio' | 'static'
  issue (request: IssueRequest): Promise<IssuedCredentials>
}

/** A room the token allows its holder to join, with the role it grants there. */
export interface RoomGrant {
  /** Exact room name, or a prefix ending in `*` (e.g. `clinic-42/*`); `*` alone means any room. */
  room: string
  role?: string
  /** Capacity of a room this grant's holder starts (its first peer); the admin API's room settings win over it. */
  capacity?: number
}

/** The verified identity behind a request or a WebSocket connection. Never holds the token itself. */
export interface Identity {
  /** The token's `sub`: the user id. One user may have several devices/connections. */
  sub: string
  name?: string
  /** Global role (e.g. host/guest) used when a room grant carries none. */
  role?: string
  /**
   * Room grants from the rooms claim (JWT_ROOMS_CLAIM) and the `room:` scopes. Undefined means the token
   * does not restrict rooms, which only ROOM_GRANTS=any allows (under `required` no grant is `[]`).
   */
  rooms?: RoomGrant[]
  /** Expiry, seconds since the epoch (the `exp` claim, always present). */
  exp: number
  /** Issued at, seconds since the epoch (the `iat` claim), when the token has one: revocations compare it. */
  iat?: number
}

/** How tokens are verified: JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL, or a generated development secret. */
export type AuthMode = 'secret' | 'public-key' | 'jwks' | 'development'

/** What the auth plugin exposes on the Fastify instance. */
export interface Auth {
  readonly mode: AuthMode
  /** The algorithms a token may be signed with (derived from the key type, narrowed by JWT_ALGORITHMS). */
  readonly algorithms: readonly string[]
  /** Verifies a raw JWT; rejects with an AuthError (statusCode 401, code SWB_AUTH_*). Usable before a WebSocket upgrade. */
  verify (token: string): Promise<Identity>
  /**
   * Finds the token in a request: `Authorization: Bearer`, and when `allowQueryAndProtocol` is set
   * (WebSocket upgrades) also the `access_token` query parameter and the `Sec-WebSocket-Protocol` header.
   */
  extractToken (request: import('fastify').FastifyRequest, allowQueryAndProtocol?: boolean): string | undefined
  /** onRequest/preHandler hook: verifies the request's token and sets `request.identity`, or replies 401. */
  authenticate (request: import('fastify').FastifyRequest): Promise<void>
  /**
   * Installs the revocation check (plugins/admin): verify() then refuses, with SWB_AUTH_TOKEN_REVOKED,
   * every token of an identity it answers true for. One check; installing another replaces it.
   */
  setRevocationCheck (revoked: RevocationCheck): void
}

/** True when the identity's token must be refused although valid (its user's sessions were revoked after it was issued). */
export type RevocationCheck = (identity: Identity) => boolean

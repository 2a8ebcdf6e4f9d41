import type { IssueRequest, IssuedCredentials, TurnProvider } from './types.js'

export interface StaticProviderOptions {
  username: string
  credential: string
  turnUrls: string[]
}

/**
 * Fixed long-term credentials for a lab TURN server. They do not expire; the ttl only tells clients
 * when to fetch again, so rotating them on the server reaches clients within one ttl.
 */
export function createStaticProvider (options: StaticProviderOptions): TurnProvider {
  return {
    name: 'static',
    async issue (request: IssueRequest): Promise<IssuedCredentials> {
      const now = Math.floor(Date.now() / 1000)
      return {
        iceServers: [{ urls: options.turnUrls, username: options.username, credential: options.credential }],
        ttl: request.ttl,
        issuedAtSeconds: now,
        expiresAtSeconds: now + request.ttl
      }
    }
  }
}

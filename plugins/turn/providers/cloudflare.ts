import type { FastifyBaseLogger } from 'fastify'
import { Type } from '@sinclair/typebox'
import { answerChecker, callUpstream, normalizeIceServers } from './upstream.js'
import type { IssueRequest, IssuedCredentials, TurnProvider } from './types.js'

const CloudflareIceServer = Type.Object({
  urls: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]),
  username: Type.Optional(Type.String()),
  credential: Type.Optional(Type.String())
})
// generate-ice-servers answers an array; the older `generate` endpoint answered a single object.
const CloudflareAnswer = Type.Object({
  iceServers: Type.Union([Type.Array(CloudflareIceServer, { minItems: 1 }), CloudflareIceServer])
})
const checkAnswer = answerChecker(CloudflareAnswer)

export interface CloudflareProviderOptions {
  apiUrl: string
  keyId: string
  apiToken: string
  timeoutMs: number
  log: FastifyBaseLogger
}

/** Cloudflare Realtime TURN: POST …/credentials/generate-ice-servers with a Bearer token, body {ttl}. */
export function createCloudflareProvider (options: CloudflareProviderOptions): TurnProvider {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/v1/turn/keys/${encodeURIComponent(options.keyId)}/credentials/generate-ice-servers`
  return {
    name: 'cloudflare',
    async issue (request: IssueRequest): Promise<IssuedCredentials> {
      const issuedAtSeconds = Math.floor(Date.now() / 1000)
      const answer = checkAnswer(await callUpstream({
        provider: 'cloudflare',
        url,
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ ttl: request.ttl }),
        timeoutMs: options.timeoutMs,
        log: options.log
      }))
      const entries = Array.isArray(answer.iceServers) ? answer.iceServers : [answer.iceServers]
      // The answer carries no ttl: Cloudflare grants what was asked (up to 48 h, above our 24 h cap).
      return {
        iceServers: normalizeIceServers('cloudflare', entries, options.log),
        ttl: request.ttl,
        issuedAtSeconds,
        expiresAtSeconds: issuedAtSeconds + request.ttl
      }
    }
  }
}

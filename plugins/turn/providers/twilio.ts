import type { FastifyBaseLogger } from 'fastify'
import { Type } from '@sinclair/typebox'
import { answerChecker, callUpstream, normalizeIceServers } from './upstream.js'
import { UpstreamBadResponseError } from '../errors.js'
import type { IssueRequest, IssuedCredentials, TurnProvider } from './types.js'

// `urls` is one string per entry; older answers add a legacy `url` field, which is ignored.
const TwilioIceServer = Type.Object({
  urls: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]),
  username: Type.Optional(Type.String()),
  credential: Type.Optional(Type.String())
})
const TwilioAnswer = Type.Object({
  ice_servers: Type.Array(TwilioIceServer, { minItems: 1 }),
  ttl: Type.String({ pattern: '^[0-9]{1,6}$', description: 'seconds, as a string' })
})
const checkAnswer = answerChecker(TwilioAnswer)

export interface TwilioProviderOptions {
  apiUrl: string
  accountSid: string
  authToken: string
  timeoutMs: number
  log: FastifyBaseLogger
}

/** Twilio Network Traversal Service: POST /2010-04-01/Accounts/{Sid}/Tokens.json, Basic auth, form body Ttl=<s>. */
export function createTwilioProvider (options: TwilioProviderOptions): TurnProvider {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Tokens.json`
  const authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`, 'utf8').toString('base64')}`
  return {
    name: 'twilio',
    async issue (request: IssueRequest): Promise<IssuedCredentials> {
      const issuedAtSeconds = Math.floor(Date.now() / 1000)
      const answer = checkAnswer(await callUpstream({
        provider: 'twilio',
        url,
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ Ttl: String(request.ttl) }).toString(),
        timeoutMs: options.timeoutMs,
        log: options.log
      }))
      const granted = Number(answer.ttl)
      if (granted < 1) throw new UpstreamBadResponseError('ttl out of range')
      // Never report more than was asked, even if Twilio grants more.
      const ttl = Math.min(granted, request.ttl)
      const entries = answer.ice_servers.map(({ urls, username, credential }) => ({ urls, username, credential }))
      return {
        iceServers: normalizeIceServers('twilio', entries, options.log),
        ttl,
        issuedAtSeconds,
        expiresAtSeconds: issuedAtSeconds + ttl
      }
    }
  }
}

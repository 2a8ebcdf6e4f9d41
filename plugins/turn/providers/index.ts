import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, list, type Config } from '../../../src/config.js'
import { createCloudflareProvider } from './cloudflare.js'
import { createHmacProvider } from './hmac.js'
import { createStaticProvider } from './static.js'
import { createTwilioProvider } from './twilio.js'
import type { TurnProvider } from './types.js'

export type { TurnProvider, IssueRequest, IssuedCredentials } from './types.js'

type ProviderVariable = 'TURN_STATIC_USERNAME' | 'TURN_STATIC_CREDENTIAL' | 'CLOUDFLARE_TURN_KEY_ID' |
  'CLOUDFLARE_TURN_API_TOKEN' | 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN'

function required (config: Config, name: ProviderVariable): string {
  // checkConfig() refuses these too; this keeps a config that skipped it from issuing with empty keys.
  const value = config[name]
  if (value === undefined || value === '') throw new ConfigError(`TURN_PROVIDER=${config.TURN_PROVIDER} needs ${name}`)
  return value
}

/** Picks the credential source named by TURN_PROVIDER. */
export function createProvider (config: Config, turnUrls: string[], log: FastifyBaseLogger): TurnProvider {
  switch (config.TURN_PROVIDER) {
    case 'hmac':
      return createHmacProvider({ secrets: list(config.TURN_SECRET), turnUrls, production: config.NODE_ENV === 'production', log })
    case 'static':
      return createStaticProvider({
        username: required(config, 'TURN_STATIC_USERNAME'),
        credential: required(config, 'TURN_STATIC_CREDENTIAL'),
        turnUrls
      })
    case 'cloudflare':
      return createCloudflareProvider({
        apiUrl: config.CLOUDFLARE_API_URL,
        keyId: required(config, 'CLOUDFLARE_TURN_KEY_ID'),
        apiToken: required(config, 'CLOUDFLARE_TURN_API_TOKEN'),
        timeoutMs: config.TURN_UPSTREAM_TIMEOUT_MS,
        log
      })
    case 'twilio':
      return createTwilioProvider({
        apiUrl: config.TWILIO_API_URL,
        accountSid: required(config, 'TWILIO_ACCOUNT_SID'),
        authToken: required(config, 'TWILIO_AUTH_TOKEN'),
        timeoutMs: config.TURN_UPSTREAM_TIMEOUT_MS,
        log
      })
  }
}

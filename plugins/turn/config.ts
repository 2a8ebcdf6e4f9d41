import { Type, type Static } from '@sinclair/typebox'
import { list } from '../../src/env-list.js'
import { parseIceUrlList } from './urls.js'

/** The TURN plugin's part of ConfigSchema: where credentials come from and what they cover. src/config.ts composes it. */
export const TurnConfigSchema = Type.Object({
  TURN_PROVIDER: Type.Union([Type.Literal('hmac'), Type.Literal('cloudflare'), Type.Literal('twilio'), Type.Literal('static')], { default: 'hmac' }),
  TURN_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated; the first signs, all are accepted by TURN; in production each at least 32 bytes' })),
  TURN_TTL_SECONDS: Type.Integer({ default: 3600, minimum: 60, maximum: 86400, description: 'Lifetime of issued TURN credentials, and the most a client may ask for' }),
  STUN_URLS: Type.String({ default: '', description: 'Comma-separated stun: URLs added to every ICE configuration' }),
  TURN_URLS: Type.String({ default: '', description: 'Comma-separated turn:/turns: URLs (e.g. turn:h:3478?transport=udp,turns:h:443?transport=tcp)' }),
  TURN_STATIC_USERNAME: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=static: fixed username' })),
  TURN_STATIC_CREDENTIAL: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=static: fixed credential' })),
  TURN_REST_API_KEYS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated API keys for GET /v1/turn/rest' })),
  TURN_UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 3000, minimum: 100, maximum: 60000, description: 'Timeout of one call to Cloudflare/Twilio (one retry on failure)' }),
  CLOUDFLARE_TURN_KEY_ID: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=cloudflare: TURN key id' })),
  CLOUDFLARE_TURN_API_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=cloudflare: API token' })),
  CLOUDFLARE_API_URL: Type.String({ default: 'https://rtc.live.cloudflare.com', pattern: '^https?://', description: 'Cloudflare API base URL' }),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=twilio: account SID' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=twilio: auth token' })),
  TWILIO_API_URL: Type.String({ default: 'https://api.twilio.com', pattern: '^https?://', description: 'Twilio API base URL' }),
  TURN_RATE_LIMIT_MAX: Type.Integer({ default: 30, minimum: 1, description: 'Credential requests per user per window' }),
  TURN_RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ default: 60, minimum: 1, description: 'Window of TURN_RATE_LIMIT_MAX' })
})
export type TurnConfig = Static<typeof TurnConfigSchema>

/** API keys are compared in full; a short key is guessable, so refuse it at start. */
export const MIN_REST_API_KEY_LENGTH = 16

/** One issued credential (username + HMAC) lets an attacker guess a short secret offline, so production wants 32 bytes. */
export const MIN_PRODUCTION_SECRET_BYTES = 32

// Verdicts per config object: the plugin asks again at registration (for configs built without
// loadConfig, as tests do), and a config that was already checked is not checked a second time.
const urlVerdicts = new WeakMap<object, string | undefined>()

/**
 * Every STUN_URLS/TURN_URLS entry must pass the browser's ICE URL checks, and every TURN_REST_API_KEYS
 * entry must be long enough. Returns a message naming the variable, or undefined when all is well.
 */
export function turnConfigProblem (config: Pick<TurnConfig, 'STUN_URLS' | 'TURN_URLS' | 'TURN_REST_API_KEYS'>): string | undefined {
  if (urlVerdicts.has(config)) return urlVerdicts.get(config)
  const verdict = urlProblem(config)
  urlVerdicts.set(config, verdict)
  return verdict
}

function urlProblem (config: Pick<TurnConfig, 'STUN_URLS' | 'TURN_URLS' | 'TURN_REST_API_KEYS'>): string | undefined {
  try {
    parseIceUrlList('STUN_URLS', config.STUN_URLS, 'stun')
    parseIceUrlList('TURN_URLS', config.TURN_URLS, 'turn')
  } catch (err) {
    return (err as Error).message
  }
  if (list(config.TURN_REST_API_KEYS).some((key) => key.length < MIN_REST_API_KEY_LENGTH)) {
    return `TURN_REST_API_KEYS: every key must be at least ${MIN_REST_API_KEY_LENGTH} characters`
  }
  return undefined
}

/** What each TURN_PROVIDER needs, and what production needs on top; the message names the variables. */
export function turnProviderProblem (config: TurnConfig & { NODE_ENV: string }): string | undefined {
  const production = config.NODE_ENV === 'production'
  switch (config.TURN_PROVIDER) {
    case 'hmac':
      if (production && !config.TURN_SECRET) return 'TURN_PROVIDER=hmac in production needs TURN_SECRET'
      if (production && list(config.TURN_URLS).length === 0) return 'TURN_PROVIDER=hmac in production needs TURN_URLS'
      break
    case 'static':
      if (!config.TURN_STATIC_USERNAME || !config.TURN_STATIC_CREDENTIAL) return 'TURN_PROVIDER=static needs TURN_STATIC_USERNAME and TURN_STATIC_CREDENTIAL'
      if (list(config.TURN_URLS).length === 0) return 'TURN_PROVIDER=static needs TURN_URLS'
      break
    case 'cloudflare':
      if (!config.CLOUDFLARE_TURN_KEY_ID || !config.CLOUDFLARE_TURN_API_TOKEN) return 'TURN_PROVIDER=cloudflare needs CLOUDFLARE_TURN_KEY_ID and CLOUDFLARE_TURN_API_TOKEN'
      break
    case 'twilio':
      if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) return 'TURN_PROVIDER=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN'
      break
  }
  // Every entry is checked, not only the signing one: coturn accepts credentials made with any of them.
  if (production && list(config.TURN_SECRET).some((secret) => Buffer.byteLength(secret, 'utf8') < MIN_PRODUCTION_SECRET_BYTES)) {
    return `TURN_SECRET: in production every comma-separated secret must be at least ${MIN_PRODUCTION_SECRET_BYTES} bytes`
  }
  return undefined
}

import type { Config } from '../../src/config.js'
import { parseIceUrlList } from './urls.js'

/** API keys are compared in full; a short key is guessable, so refuse it at start. */
export const MIN_REST_API_KEY_LENGTH = 16

function entries (value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
}

/**
 * TURN start-up rules that checkConfig() applies: every STUN_URLS/TURN_URLS entry must pass the browser's
 * ICE URL checks, and every TURN_REST_API_KEYS entry must be long enough. Returns a message naming the
 * variable, or undefined when all is well. (Returns rather than throws so src/config.ts stays the only
 * place that builds ConfigError, without an import cycle.)
 */
export function turnConfigProblem (config: Pick<Config, 'STUN_URLS' | 'TURN_URLS' | 'TURN_REST_API_KEYS'>): string | undefined {
  try {
    parseIceUrlList('STUN_URLS', config.STUN_URLS, 'stun')
    parseIceUrlList('TURN_URLS', config.TURN_URLS, 'turn')
  } catch (err) {
    return (err as Error).message
  }
  if (entries(config.TURN_REST_API_KEYS).some((key) => key.length < MIN_REST_API_KEY_LENGTH)) {
    return `TURN_REST_API_KEYS: every key must be at least ${MIN_REST_API_KEY_LENGTH} characters`
  }
  return undefined
}

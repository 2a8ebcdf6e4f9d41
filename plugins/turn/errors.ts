import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'

// Upstream = the cloud TURN provider (Cloudflare, Twilio). Messages are generic on purpose:
// the problem body must not echo upstream data, which may contain credentials.
export const UpstreamBadResponseError = createError<[string]>(
  `${ERROR_PREFIX}_TURN_UPSTREAM_BAD_RESPONSE`, 'The TURN provider gave an unusable answer (%s)', 502)
export const UpstreamUnavailableError = createError<[string]>(
  `${ERROR_PREFIX}_TURN_UPSTREAM_UNAVAILABLE`, 'The TURN provider is unavailable (%s)', 503)

export const TurnNotConfiguredError = createError(
  `${ERROR_PREFIX}_TURN_NOT_CONFIGURED`, 'No TURN server is configured', 503)

export const RestApiDisabledError = createError(
  `${ERROR_PREFIX}_TURN_REST_DISABLED`, 'The TURN REST API compatibility endpoint is disabled (TURN_REST_API_KEYS is empty)', 403)
export const RestApiKeyInvalidError = createError(
  `${ERROR_PREFIX}_TURN_REST_API_KEY_INVALID`, 'Missing or invalid API key', 401)
export const RestServiceInvalidError = createError(
  `${ERROR_PREFIX}_VALIDATION`, 'service must be "turn"', 400)

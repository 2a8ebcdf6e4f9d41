import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'

export const RateLimitedError = createError<[string]>(
  `${ERROR_PREFIX}_RATE_LIMITED`, 'Too many requests, retry in %s', 429)

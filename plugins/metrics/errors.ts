import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'

// One code for a missing and a wrong token: the answer does not help anyone guess which it was.
export const MetricsUnauthorizedError = createError(
  `${ERROR_PREFIX}_METRICS_UNAUTHORIZED`, 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>', 401)

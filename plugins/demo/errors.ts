import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'

// The message names no file or compiler output: a 500 body never carries internals.
export const DemoBundleFailedError = createError(
  `${ERROR_PREFIX}_DEMO_BUNDLE_FAILED`, 'The demo page script could not be built', 500)

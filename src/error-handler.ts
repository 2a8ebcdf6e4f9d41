import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ERROR_PREFIX } from './errors.js'
import { PROBLEM_CONTENT_TYPE, problemType, type Problem } from './problem.js'

/** Fastify's own codes that we rename so clients only ever see SWB_* codes. */
const FASTIFY_CODE_MAP: Record<string, string> = {
  FST_ERR_VALIDATION: `${ERROR_PREFIX}_VALIDATION`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: `${ERROR_PREFIX}_UNSUPPORTED_MEDIA_TYPE`,
  FST_ERR_CTP_EMPTY_JSON_BODY: `${ERROR_PREFIX}_VALIDATION`,
  FST_ERR_CTP_INVALID_JSON_BODY: `${ERROR_PREFIX}_MALFORMED_JSON`,
  FST_ERR_CTP_BODY_TOO_LARGE: `${ERROR_PREFIX}_BODY_TOO_LARGE`,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: `${ERROR_PREFIX}_VALIDATION`,
  FST_ERR_NOT_FOUND: `${ERROR_PREFIX}_NOT_FOUND`,
  FST_ERR_BAD_URL: `${ERROR_PREFIX}_BAD_REQUEST`,
  FST_ERR_MAX_PARAM_LENGTH: `${ERROR_PREFIX}_URI_TOO_LONG`
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 409: 'Conflict', 411: 'Length Required', 413: 'Payload Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 426: 'Upgrade Required', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
}

/** Errors may carry response headers (WWW-Authenticate, Retry-After) for the handler to apply. */
export type ErrorWithHeaders = FastifyError & { headers?: Record<string, string> }

export function problemFromError (error: ErrorWithHeaders, request: FastifyRequest): Problem {
  const rawStatus = error.statusCode ?? 500
  const status = rawStatus >= 400 && rawStatus <= 599 ? rawStatus : 500
  const mapped = error.code !== undefined ? (FASTIFY_CODE_MAP[error.code] ?? error.code) : undefined
  // A Fastify code we have not renamed yet is still not shown: clients only ever see SWB_* codes.
  const rawCode = mapped?.startsWith('FST_') === true ? undefined : mapped
  // Server-side failures never reveal their message: it may hold internals or upstream data.
  const hide = status >= 500 && !(rawCode?.startsWith(ERROR_PREFIX) ?? false)
  const code = hide || rawCode === undefined ? (status >= 500 ? `${ERROR_PREFIX}_INTERNAL` : `${ERROR_PREFIX}_BAD_REQUEST`) : rawCode
  const problem: Problem = {
    type: problemType(code),
    title: STATUS_TITLES[status] ?? 'Error',
    status,
    code,
    instance: request.url.split('?')[0],
    requestId: request.id
  }
  if (!hide && error.message) problem.detail = error.message
  return problem
}

export function sendProblem (reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem)
}

/**
 * Fastify's `frameworkErrors` option: errors the router raises before any route or hook runs (a URL
 * that does not decode, a parameter over the length limit). Without it they get Fastify's own JSON.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = problemFromError(error, request)
  request.log.info({ code: problem.code, status: problem.status }, 'request refused')
  return sendProblem(reply, problem)
}

/**
 * Renders every error as problem+json: thrown errors, unknown routes, and requests that arrive while
 * the server closes. Pair it with `return503OnClosing: false`, whose 503 body is Fastify's own JSON.
 */
export function installErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler((error: ErrorWithHeaders, request, reply) => {
    const problem = problemFromError(error, request)
    if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, 'request failed')
    else request.log.info({ code: problem.code, status: problem.status }, 'request refused')
    if (error.headers) reply.headers(error.headers)
    return sendProblem(reply, problem)
  })

  // Requests still arriving on a busy keep-alive connection after close() began: send them elsewhere.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return
    void reply.header('connection', 'close')
    return sendProblem(reply, problemFromError(Object.assign(new Error('The server is shutting down: retry on another instance'), {
      statusCode: 503, code: `${ERROR_PREFIX}_DRAINING`
    }) as ErrorWithHeaders, request))
  })

  app.setNotFoundHandler((request, reply) => {
    return sendProblem(reply, {
      type: problemType(`${ERROR_PREFIX}_NOT_FOUND`),
      title: 'Not Found',
      status: 404,
      code: `${ERROR_PREFIX}_NOT_FOUND`,
      detail: `Route ${request.method} ${request.url.split('?')[0]} not found`,
      instance: request.url.split('?')[0],
      requestId: request.id
    })
  })
}

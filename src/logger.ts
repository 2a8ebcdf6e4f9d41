import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { DestinationStream, LoggerOptions } from 'pino'
import type { Config } from './config.js'
import { labelRoomFields, labelRoomPath, type RoomLabel } from './room-label.js'

/** Query parameters that may carry credentials; their values never reach a log line. */
const SECRET_QUERY_PARAMS = ['access_token', 'token', 'key', 'api', 'api_key', 'apikey', 'secretKey', 'password', 'resume', 'resume_token']

/**
 * pino redaction paths. Anything credential-like is censored wherever it appears in a logged object,
 * as a second line of defence behind "log events, not content".
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  '*.token', '*.accessToken', '*.access_token', '*.resumeToken', '*.password', '*.credential',
  '*.secret', '*.sdp', '*.candidate',
  'token', 'accessToken', 'access_token', 'resumeToken', 'password', 'credential', 'secret', 'sdp', 'candidate'
]

/** Replaces credential-carrying query values with "[REDACTED]", keeping the rest of the URL readable. */
export function redactUrl (url: string | undefined): string | undefined {
  if (url === undefined) return url
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = new URLSearchParams(url.slice(q + 1))
  let changed = false
  for (const name of [...params.keys()]) {
    if (SECRET_QUERY_PARAMS.some((p) => p.toLowerCase() === name.toLowerCase())) {
      params.set(name, '[REDACTED]')
      changed = true
    }
  }
  return changed ? `${url.slice(0, q)}?${params.toString()}` : url
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/** Honours a sane incoming X-Request-Id (from a proxy) so logs correlate across hops; otherwise a UUID. */
export function genReqId (req: IncomingMessage): string {
  const incoming = req.headers['x-request-id']
  if (typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming)) return incoming
  return randomUUID()
}

/** Human-readable lines for a terminal; what ships to a log collector stays one JSON object per line. */
const PRETTY_TRANSPORT = {
  target: 'pino-pretty',
  options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }
}

export interface LoggerOutput {
  /** Where lines go (tests capture them); stdout when omitted. */
  stream?: DestinationStream
  /** pino-pretty instead of JSON: server.ts asks for it when stdout is a terminal. Ignored with a stream. */
  pretty?: boolean
}

/**
 * The pino options every logger of the service shares (the audit file's too): `room` fields and room
 * paths through `roomLabel` (LOG_ROOM_NAMES). Without a label nothing is added to each line's work.
 */
export function roomLabelOptions (roomLabel: RoomLabel | undefined): Pick<LoggerOptions, 'formatters'> {
  return roomLabel === undefined ? {} : { formatters: { log: labelRoomFields(roomLabel) } }
}

export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'>, output: LoggerOutput = {}, roomLabel?: RoomLabel): FastifyServerOptions['logger'] {
  const options: LoggerOptions = {
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    ...roomLabelOptions(roomLabel),
    serializers: {
      // Chosen fields only: no headers, no body, and the URL with secrets (and room names, when hashed) stripped.
      req (req: { method: string, url: string, hostname?: string, ip?: string, id?: string }) {
        const url = redactUrl(req.url)
        return { method: req.method, url: roomLabel === undefined || url === undefined ? url : labelRoomPath(url, roomLabel), hostname: req.hostname, remoteAddress: req.ip }
      }
    }
  }
  if (output.stream) return { ...options, stream: output.stream } as FastifyServerOptions['logger']
  // Redaction and serializers run before the transport, so pretty lines hide exactly what JSON lines hide.
  if (output.pretty === true) return { ...options, transport: PRETTY_TRANSPORT } as FastifyServerOptions['logger']
  return options as FastifyServerOptions['logger']
}

export function isProbe (url: string): boolean {
  const path = url.split('?')[0] ?? ''
  return path === '/health' || path.startsWith('/health/')
}

/** Request log lines, with probes (every few seconds, from every kubelet) moved down to debug; a failed one stays at error. */
export class RequestLogController extends LogController {
  override incomingRequest (request: FastifyRequest, reply: FastifyReply): void {
    if (!isProbe(request.url)) return super.incomingRequest(request, reply)
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error || !isProbe(request.url)) return super.requestCompleted(error, request, reply)
    if (!this.isLogDisabled(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

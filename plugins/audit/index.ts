import fp from 'fastify-plugin'
import pino, { type Logger } from 'pino'
import { ERROR_PREFIX } from '../../src/errors.js'
import { roomLabelOptions } from '../../src/logger.js'

/**
 * The only fields an audit event may carry: who, which connection, which room, what happened.
 * Deliberately no free-form payload, so SDP, candidates, tokens and passwords cannot get in.
 */
export interface AuditFields {
  userId?: string
  peerId?: string
  room?: string
  role?: string
  code?: string
  reason?: string
  provider?: string
  resumed?: boolean
  closeCode?: number
  ip?: string
  reqId?: string
  /** Which admin API key made the call: a short hash of it, never the key (plugins/admin). */
  keyId?: string
  /** The admin API operation (its OpenAPI operationId). */
  operation?: string
  /** HTTP status of an admin API call. */
  status?: number
}

export type AuditEvent =
  | 'auth.failure' | 'turn.issued' | 'signal.connect' | 'signal.disconnect'
  | 'room.join' | 'room.leave' | 'message.refused' | 'session.end' | 'admin.call'

export type Audit = (event: AuditEvent, fields: AuditFields) => void

declare module 'fastify' {
  interface FastifyInstance { audit: Audit }
}

const AUTH_PREFIX = `${ERROR_PREFIX}_AUTH_`
const FIELD_NAMES: ReadonlyArray<keyof AuditFields> = ['userId', 'peerId', 'room', 'role', 'code', 'reason', 'provider', 'resumed', 'closeCode', 'ip', 'reqId', 'keyId', 'operation', 'status']

/**
 * Security-relevant events on their own stream: a child of the app logger tagged `audit: true` with
 * its own level (AUDIT_LOG_LEVEL), or a separate file (AUDIT_LOG_FILE) for a separate retention policy.
 */
export default fp(async (app) => {
  const { AUDIT_LOG_LEVEL: level, AUDIT_LOG_FILE: file } = app.config
  let logger: Logger
  if (file !== undefined) {
    const destination = pino.destination({ dest: file, append: true, mkdir: true, sync: false })
    logger = pino({ level, base: { audit: true }, ...roomLabelOptions(app.roomLabel) }, destination)
    // end() writes what is buffered once a write in flight is done, then closes the file: waiting for
    // 'close' means every event audited before shutdown is on disk (flushSync alone could return with an
    // asynchronous write still in flight, and throws while the file is still opening).
    app.addHook('onClose', async () => {
      await new Promise<void>((resolve) => {
        destination.once('close', () => resolve())
        destination.once('error', () => resolve())
        destination.end()
      })
    })
  } else {
    // No redaction here: the app logger's wildcard paths cost about 10 µs a line (measured), and an audit
    // line carries only the whitelisted, non-secret fields below, picked one by one. The app logger's
    // formatters (room names hashed under LOG_ROOM_NAMES=hash) still apply to a child.
    logger = (app.log as Logger).child({ audit: true }, { level, redact: [] })
  }

  const audit: Audit = (event, fields) => {
    if (level === 'silent') return
    const picked: Record<string, unknown> = { event }
    for (const name of FIELD_NAMES) if (fields[name] !== undefined) picked[name] = fields[name]
    logger.info(picked, 'audit')
  }
  app.decorate('audit', audit)

  app.addHook('onError', async (request, _reply, error) => {
    const code = (error as { code?: string }).code ?? ''
    if (code.startsWith(AUTH_PREFIX)) audit('auth.failure', { code, ip: request.ip, reqId: request.id })
  })
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 200 && request.routeOptions.url === '/v1/turn/credentials') {
      audit('turn.issued', { userId: request.identity?.sub, provider: app.config.TURN_PROVIDER, reqId: request.id })
    }
  })
}, { fastify: '5.x', name: 'switchboard-audit' })

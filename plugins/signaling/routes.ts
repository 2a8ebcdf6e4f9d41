import fp from 'fastify-plugin'
import type { Socket } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import websocket from '@fastify/websocket'
import createError from '@fastify/error'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ERROR_PREFIX } from '../../src/errors.js'
import { problemResponses } from '../../src/problem.js'
import { authError } from '../auth/errors.js'
import { originAllowed } from './origin.js'
import { RegistryUnavailableError } from '../registry/types.js'
import { SignalingHub, type ResumeRequest } from './hub.js'
import { batchWritesOf } from './write-batch.js'
import { CloseCode, ConnectionLimits, SUBPROTOCOL } from './messages.js'

const OriginForbiddenError = createError(`${ERROR_PREFIX}_ORIGIN_FORBIDDEN`, 'Origin not allowed', 403)
const TooManyConnectionsError = createError<[number]>(`${ERROR_PREFIX}_TOO_MANY_CONNECTIONS`, 'At most %d connections per user', 429)
const UpgradeRequiredError = createError(`${ERROR_PREFIX}_UPGRADE_REQUIRED`, 'This endpoint is a WebSocket: send an upgrade request', 426)
const BadResumeError = createError(`${ERROR_PREFIX}_VALIDATION`, 'lastSeq must be a non-negative integer given with resume', 400)

const SignalQuery = Type.Object({
  access_token: Type.Optional(Type.String({ description: 'JWT, for clients that can set neither headers nor subprotocols' })),
  resume: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Resume token from the last welcome' })),
  lastSeq: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Last seq the client received' }))
})

const PreflightReply = Type.Object({
  ok: Type.Literal(true),
  userId: Type.String(),
  tokenExpiresAt: Type.Integer({ description: 'ms since the epoch' }),
  connections: Type.Integer({ description: 'Connections this user has open now' }),
  limits: ConnectionLimits
})

function parseResume (query: { resume?: string, lastSeq?: string }): ResumeRequest | undefined {
  if (query.resume === undefined) return undefined
  const lastSeq = Number(query.lastSeq ?? 'NaN')
  if (!Number.isSafeInteger(lastSeq) || lastSeq < 0) throw new BadResumeError()
  return { token: query.resume, lastSeq }
}

/** The checks an upgrade passes before it is accepted; the preflight route runs the same ones. */
async function admit (app: FastifyInstance, request: FastifyRequest): Promise<void> {
  if (!originAllowed(request, app.config.CORS_ORIGINS)) throw new OriginForbiddenError()
  const token = app.auth.extractToken(request, true)
  if (token === undefined) throw authError('TOKEN_MISSING')
  request.identity = await app.auth.verify(token)
}

export interface SignalingRoutesOptions { hub: SignalingHub }

/**
 * The signaling WebSocket route and its preflight. Encapsulated: @fastify/websocket, its error
 * handler and the upgrade hooks apply to these routes only.
 */
export default fp<SignalingRoutesOptions>(async (app, { hub }) => {
  const config = app.config
  const log = app.log.child({ component: 'signaling' })
  function onSocketError (err: Error): void {
    log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'websocket error')
    // Nothing more to do: for a frame it refuses (too big: 1009, invalid UTF-8: 1007) ws has sent a close
    // frame, ends the connection when the client answers it and destroys the socket if it does not
    // within its close timeout (30 s; the heartbeat cuts such a socket off too); a socket error has
    // already destroyed it. Destroying the socket here, while the client's next frames are still
    // arriving, reset the connection, and a client that had not read the close frame yet saw 1006.
  }
  await app.register(websocket, {
    options: {
      // Twice the message limit: between the two, a message gets an `error`; beyond, ws closes with 1009.
      maxPayload: config.WS_MAX_MESSAGE_BYTES * 2,
      // Browsers that offered subprotocols fail unless one is selected; a `bearer.<jwt>` entry only carries the token.
      handleProtocols: (protocols) => protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false,
      perMessageDeflate: false,
      // The hub keeps the live connections (and closes them on shutdown, see preClose below); ws's own
      // client Set, and the close listener it puts on every socket for it, would only cost memory.
      clientTracking: false
    },
    errorHandler (err, socket, request) {
      request.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'websocket error')
      socket.terminate()
    },
    // app.close(): stop timers and close every socket with 1001 (clients resume elsewhere).
    preClose: (done) => { hub.close(); done() }
  })
  // @fastify/websocket's 'upgrade' listener (above) routes every upgrade request, whatever its path,
  // through Fastify with a response on the socket, and Node leaves the connection to that listener. When
  // the answer is HTTP rather than the 101 (a refusal, a 404, a 400 for a bad URL, the 503 while closing),
  // nothing else ends the connection: it stayed open, and once the client hung up it was half-closed for
  // good, a socket leaked per request and app.close() waiting for it. So the end of that response ends it.
  // On the 101 path wsHandler detaches the response unfinished, and this listener goes with it.
  app.server.on('upgrade', (_request: IncomingMessage, socket: Socket & { _httpMessage?: ServerResponse | null }) => {
    socket._httpMessage?.once('finish', () => socket.destroySoon())
  })
  // The 101 response and the welcome leave in one write: ws announces the response headers right before
  // writing them, and the socket stays corked until hub.accept has written the welcome (every other
  // path of wsHandler uncorks too). Measured with --cpu-prof, writing the 101 alone was a twentieth of
  // a connection's setup. Only upgrades admitted to /v1/signal: an upgrade to another route gets a 101
  // and a close from @fastify/websocket, which must not wait.
  const corkOnUpgrade = new WeakSet<IncomingMessage>()
  app.websocketServer.on('headers', (_headers: string[], request: IncomingMessage) => {
    if (corkOnUpgrade.has(request)) request.socket.cork()
  })

  app.route({
    method: 'GET',
    url: '/v1/signal',
    schema: {
      tags: ['signaling'],
      operationId: 'openSignalingSocket',
      summary: 'The signaling WebSocket (protocol: docs/signaling.md)',
      description: 'Upgrade with `Connection: Upgrade`, `Upgrade: websocket`. Refusals happen before the upgrade, as problem+json. ' +
        'A plain GET (no upgrade) gets 426.',
      security: [{ bearerAuth: [] }],
      querystring: SignalQuery,
      response: problemResponses(400, 401, 403, 426, 503)
    },
    // @fastify/helmet builds its middleware again for every request, about a twentieth of a connection's
    // setup, and the 101 that ws writes never carries those headers anyway. The route's own HTTP
    // answers (refusals, 426) still get them, below.
    helmet: false,
    onSend: async (_request, reply, payload) => {
      // Absent when the answer went out before helmet's onRequest hook ran: the 503 while closing.
      if (typeof reply.helmet === 'function') reply.helmet()
      return payload
    },
    onRequest: async (request) => {
      await admit(app, request)
      // A bad resume request is refused with 400 before the upgrade, like every other refusal.
      parseResume(request.query as { resume?: string, lastSeq?: string })
      if (request.ws) corkOnUpgrade.add(request.raw)
    },
    handler: async (_request, reply) => {
      void reply.header('upgrade', 'websocket')
      throw new UpgradeRequiredError()
    },
    wsHandler: (socket, request) => {
      // @fastify/websocket's error listener closes over the request and reply (and through them the
      // upgrade's IncomingMessage, headers and all) for the socket's whole life: kilobytes per idle
      // connection. Swap it for one that holds nothing.
      socket.removeAllListeners('error')
      socket.on('error', onSocketError)
      // Likewise the TCP socket still points at the upgrade's ServerResponse (and through its listeners
      // at the request, the reply and the request logger): nothing will be written to it, let it go.
      const tcp = request.raw.socket as Socket & { _httpMessage?: ServerResponse | null }
      tcp._httpMessage?.detachSocket(tcp)
      batchWritesOf(tcp)
      const identity = request.identity
      if (!identity) {
        socket.close(CloseCode.POLICY, 'unauthenticated')
        tcp.uncork()
        return
      }
      let resume: ResumeRequest | undefined
      try {
        resume = parseResume(request.query as { resume?: string, lastSeq?: string })
      } catch {
        socket.close(CloseCode.POLICY, 'lastSeq must be a non-negative integer given with resume')
        tcp.uncork()
        return
      }
      // accept uncorks once the welcome is written; on its other paths (refusals), this does.
      hub.accept(socket, tcp, identity, resume, request.id).finally(() => tcp.uncork()).catch((err: unknown) => {
        if (err instanceof RegistryUnavailableError) {
          // Redis is away: say so with a stable code and 1013 (try again later) so the client retries.
          request.log.warn({ code: err.code }, 'signaling connection refused: registry unavailable')
          socket.send(JSON.stringify({ type: 'error', seq: 0, code: err.code, message: 'Signaling is briefly unavailable: reconnect shortly' }))
          socket.close(1013, 'registry unavailable')
          socket.resume() // accept() paused it: it must read the client's close frame
          return
        }
        request.log.error({ err }, 'could not set up signaling connection')
        socket.close(1011, 'internal error')
      })
    }
  })

  app.get('/v1/signal/preflight', {
    schema: {
      tags: ['signaling'],
      operationId: 'signalingPreflight',
      summary: 'Checks a token and origin exactly as the WebSocket upgrade would, and says why it would be refused',
      description: 'Browsers cannot read the HTTP status of a failed WebSocket upgrade: call this first (or after a failure) to learn the reason.',
      security: [{ bearerAuth: [] }],
      querystring: SignalQuery,
      response: { 200: PreflightReply, ...problemResponses(400, 401, 403, 429, 503) }
    }
  }, async (request) => {
    await admit(app, request)
    parseResume(request.query as { resume?: string, lastSeq?: string })
    const identity = request.identity
    if (!identity) throw new OriginForbiddenError()
    if (hub.draining) throw Object.assign(new Error('This instance is draining'), { statusCode: 503, code: `${ERROR_PREFIX}_DRAINING` })
    const connections = await app.registry.connectionCount(identity.sub)
    if (connections >= config.MAX_CONNECTIONS_PER_USER) throw new TooManyConnectionsError(config.MAX_CONNECTIONS_PER_USER)
    return { ok: true as const, userId: identity.sub, tokenExpiresAt: identity.exp * 1000, connections, limits: hub.limits }
  })
}, { fastify: '5.x', name: 'switchboard-signaling-routes', encapsulate: true, dependencies: ['switchboard-auth', 'switchboard-registry', 'switchboard-health'] })

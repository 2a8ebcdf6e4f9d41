import { hostname } from 'node:os'
import type { FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { list } from '../../src/config.js'
import { problemResponses } from '../../src/problem.js'
import type { ErrorWithHeaders } from '../../src/error-handler.js'
import { ERROR_PREFIX } from '../../src/errors.js'
import { RATE_LIMIT_PLUGIN_NAME, clientIpKey, routeRateLimit } from '../rate-limit/index.js'
import { MAX_ROOM_METADATA_BYTES } from '../signaling/messages.js'
import type { RoomState } from '../registry/types.js'
import { AdminUnauthorizedError, MessageTooLargeError, MetadataTooLargeError, PeerNotFoundError, RoomNotFoundError } from './errors.js'
import { adminKeyChecker } from './keys.js'
import { isRevoked } from './revocation.js'
import {
  ListQuerySchema, MessageBodySchema, MessageResultSchema, PeerParamsSchema, PutRoomResponseSchema, RevokeResultSchema, RoomDetailSchema,
  RoomListSchema, RoomParamsSchema, RoomSettingsSchema, StatsSchema, UserParamsSchema, type PutRoomResponse, type RoomDetail, type RoomList
} from './schemas.js'
import { collectStats } from './stats.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin key's id (a short hash), set once the key was checked; null elsewhere. */
    adminKeyId: string | null
  }
}

/** The OpenAPI security scheme of the admin routes (registered in src/app.ts). */
export const ADMIN_SECURITY_SCHEME = 'adminApiKey'
const security = [{ [ADMIN_SECURITY_SCHEME]: [] }]
const tags = ['admin']

/** What a `message` costs on the wire besides its data and room (type, from, seq and punctuation). */
const MESSAGE_OVERHEAD_BYTES = 96

function iso (ms: number): string {
  return new Date(ms).toISOString()
}

/** A room's state as the API shows it. */
function shown (state: RoomState): { createdAt: string, settings?: RoomState['settings'] } {
  return state.settings === undefined ? { createdAt: iso(state.createdAt) } : { createdAt: iso(state.createdAt), settings: state.settings }
}

/**
 * The admin REST API (docs/admin.md), registered under /v1/admin: what an integrator's backend does to
 * rooms and sessions, wherever their peers are connected. A route plugin: its hooks stay on its routes.
 * The revocation check it installs in auth works whether or not ADMIN_API_KEYS is set (another
 * instance with keys may revoke).
 */
const admin: FastifyPluginAsyncTypebox = async (app) => {
  if (!app.hasPlugin(RATE_LIMIT_PLUGIN_NAME)) throw new Error(`plugins/admin needs ${RATE_LIMIT_PLUGIN_NAME} registered before it`)
  const { config, registry } = app
  const control = app.signaling.hub.control
  const startedAt = Date.now()
  const instanceId = 'instanceId' in registry ? String(registry.instanceId) : (config.INSTANCE_ID ?? hostname())

  app.auth.setRevocationCheck((identity) => isRevoked(identity, registry.revokedAt(identity.sub)))

  const keys = list(config.ADMIN_API_KEYS)
  const keyFor = adminKeyChecker(keys)
  app.decorateRequest('adminKeyId', null)

  // Off: the routes exist (and are documented) but answer like an unknown path, revealing nothing.
  app.addHook('onRequest', async (request) => {
    if (keys.length > 0) return
    throw Object.assign(new Error(`Route ${request.method} ${request.url.split('?')[0]} not found`), { statusCode: 404, code: `${ERROR_PREFIX}_NOT_FOUND` })
  })
  // Before the key check, per client IP: guessing keys is limited too.
  app.addHook('onRequest', app.rateLimit(routeRateLimit({
    max: config.ADMIN_RATE_LIMIT_MAX,
    windowSeconds: config.ADMIN_RATE_LIMIT_WINDOW_SECONDS,
    keyGenerator: (request) => `admin-${clientIpKey(request)}`
  })))
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const id = keyFor(request.headers.authorization)
    if (id === undefined) {
      const err: ErrorWithHeaders = new AdminUnauthorizedError()
      err.headers = { 'www-authenticate': 'Bearer realm="switchboard-admin"' }
      throw err
    }
    request.adminKeyId = id
  })
  app.addHook('onResponse', async (request, reply) => {
    if (keys.length === 0) return
    const params = (request.params ?? {}) as { room?: string, peerId?: string, userId?: string }
    app.audit('admin.call', {
      keyId: request.adminKeyId ?? undefined,
      operation: request.routeOptions.schema?.operationId as string | undefined,
      status: reply.statusCode,
      room: params.room,
      peerId: params.peerId,
      userId: params.userId,
      ip: request.ip,
      reqId: request.id
    })
  })

  app.get('/rooms', {
    schema: {
      tags,
      security,
      operationId: 'listRooms',
      summary: 'List rooms, by name, a page at a time',
      querystring: ListQuerySchema,
      response: { 200: RoomListSchema, ...problemResponses(400, 401, 404, 429, 503) }
    }
  }, async (request): Promise<RoomList> => {
    const page = await registry.listRooms(request.query.cursor, request.query.limit)
    const rooms = page.rooms.map(({ room, peers, ...state }) => ({ room, peers, ...shown(state) }))
    return page.next === undefined ? { rooms } : { rooms, next: page.next }
  })

  app.get('/rooms/:room', {
    schema: {
      tags,
      security,
      operationId: 'getRoom',
      summary: 'A room\'s settings and peers',
      params: RoomParamsSchema,
      response: { 200: RoomDetailSchema, ...problemResponses(400, 401, 404, 429, 503) }
    }
  }, async (request): Promise<RoomDetail> => {
    const { room } = request.params
    const detail = await registry.roomDetail(room)
    if (detail === undefined) throw new RoomNotFoundError(room)
    return {
      room,
      ...shown(detail),
      peers: detail.members.map(({ joinedAt, ...member }) => ({ ...member, joinedAt: iso(joinedAt) }))
    }
  })

  app.put('/rooms/:room', {
    schema: {
      tags,
      security,
      operationId: 'putRoomSettings',
      summary: 'Create or replace a room\'s settings (capacity, max duration, metadata)',
      description: 'Settings left out are unset (the room falls back to the token grant and the configuration). ' +
        'Lowering the capacity below the current count refuses new joins; nobody is removed.',
      params: RoomParamsSchema,
      body: RoomSettingsSchema,
      response: { 200: PutRoomResponseSchema, ...problemResponses(400, 401, 404, 413, 415, 429, 503) }
    }
  }, async (request): Promise<PutRoomResponse> => {
    const { room } = request.params
    const settings = request.body
    if (settings.metadata !== undefined && Buffer.byteLength(JSON.stringify(settings.metadata)) > MAX_ROOM_METADATA_BYTES) {
      throw new MetadataTooLargeError(MAX_ROOM_METADATA_BYTES)
    }
    const state = await registry.putRoomSettings(room, settings)
    // A running room's clock started when it did: its max duration counts from then.
    if ((await registry.members(room)).length > 0) await control.arm(room, state, true)
    return { room, createdAt: iso(state.createdAt), settings }
  })

  app.delete('/rooms/:room', {
    schema: {
      tags,
      security,
      operationId: 'endRoom',
      summary: 'End a room: every peer gets room-ended and is out; the name can be used again as a new room',
      params: RoomParamsSchema,
      response: { 204: Type.Null({ description: 'Ended' }), ...problemResponses(400, 401, 404, 429, 503) }
    }
  }, async (request, reply) => {
    const { room } = request.params
    if (!await control.endRoom(room, 'api')) throw new RoomNotFoundError(room)
    return reply.code(204).send(null)
  })

  app.delete('/rooms/:room/peers/:peerId', {
    schema: {
      tags,
      security,
      operationId: 'removePeer',
      summary: 'Remove one peer from a room: it gets removed, the others peer-left with reason removed',
      params: PeerParamsSchema,
      response: { 204: Type.Null({ description: 'Removed' }), ...problemResponses(400, 401, 404, 429, 503) }
    }
  }, async (request, reply) => {
    const { room, peerId } = request.params
    if (await control.removePeer(room, peerId) === undefined) throw new PeerNotFoundError(peerId, room)
    return reply.code(204).send(null)
  })

  app.post('/rooms/:room/messages', {
    schema: {
      tags,
      security,
      operationId: 'sendRoomMessage',
      summary: 'Send a message with from "server" to one peer (to) or everyone in the room',
      params: RoomParamsSchema,
      body: MessageBodySchema,
      response: { 200: MessageResultSchema, ...problemResponses(400, 401, 404, 413, 415, 429, 503) }
    }
  }, async (request) => {
    const { room } = request.params
    const { data, to } = request.body
    const bytes = Buffer.byteLength(JSON.stringify(data) ?? '') + Buffer.byteLength(room) + MESSAGE_OVERHEAD_BYTES
    if (bytes > config.WS_MAX_MESSAGE_BYTES) throw new MessageTooLargeError(config.WS_MAX_MESSAGE_BYTES)
    const outcome = await control.sendMessage(room, data, to)
    if (outcome === 'no-room') throw new RoomNotFoundError(room)
    if (outcome === 'not-in-room') throw new PeerNotFoundError(to ?? '', room)
    return { delivered: outcome }
  })

  app.delete('/users/:userId/sessions', {
    schema: {
      tags,
      security,
      operationId: 'revokeUserSessions',
      summary: 'Close every connection of a user on every instance (4003) and refuse its tokens issued before now',
      description: 'The sessions end (not resumable; the other peers get peer-left with reason revoked). Tokens of the user ' +
        'whose iat is before the answer\'s revokedAt (or that have no iat) are refused with SWB_AUTH_TOKEN_REVOKED until they expire.',
      params: UserParamsSchema,
      response: { 200: RevokeResultSchema, ...problemResponses(400, 401, 404, 429, 503) }
    }
  }, async (request) => {
    const { userId } = request.params
    const at = await control.revokeUser(userId)
    return { userId, revokedAt: iso(at) }
  })

  app.get('/stats', {
    schema: {
      tags,
      security,
      operationId: 'getStats',
      summary: 'This instance, for people: version, uptime, registry, connections, rooms, peers, memory, messages',
      response: { 200: StatsSchema, ...problemResponses(401, 404, 429) }
    }
  }, async () => collectStats(app, { instanceId, startedAt }))
}

export default admin

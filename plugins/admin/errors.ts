import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'

/** Refusals of the admin API; their codes are part of the contract (docs/admin.md). */
export const AdminUnauthorizedError = createError(`${ERROR_PREFIX}_ADMIN_UNAUTHORIZED`, 'A valid admin API key is required (Authorization: Bearer <key>)', 401)
export const RoomNotFoundError = createError<[string]>(`${ERROR_PREFIX}_ADMIN_ROOM_NOT_FOUND`, 'Room "%s" does not exist (no members and no settings)', 404)
export const PeerNotFoundError = createError<[string, string]>(`${ERROR_PREFIX}_ADMIN_PEER_NOT_FOUND`, 'Peer "%s" is not in room "%s"', 404)
export const MetadataTooLargeError = createError<[number]>(`${ERROR_PREFIX}_ADMIN_METADATA_TOO_LARGE`, 'metadata exceeds %d bytes as JSON', 400)
export const MessageTooLargeError = createError<[number]>(`${ERROR_PREFIX}_ADMIN_MESSAGE_TOO_LARGE`, 'The message exceeds %d bytes (WS_MAX_MESSAGE_BYTES)', 413)

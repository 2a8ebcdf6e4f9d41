import { Type, type Static } from '@sinclair/typebox'

/** The signaling plugin's part of ConfigSchema: room sizes and per-socket limits. src/config.ts composes it. */
export const SignalingConfigSchema = Type.Object({
  ROOM_CAPACITY: Type.Integer({ default: 2, minimum: 1, maximum: 1000, description: 'Peers per room (2 for a consultation)' }),
  MAX_ROOMS_PER_PEER: Type.Integer({ default: 4, minimum: 1, maximum: 100, description: 'Rooms one connection may be in at once' }),
  MAX_CONNECTIONS_PER_USER: Type.Integer({ default: 5, minimum: 1, maximum: 1000, description: 'Open sockets per user (`sub`), across instances with Redis' }),
  WS_MAX_MESSAGE_BYTES: Type.Integer({ default: 65536, minimum: 4096, maximum: 16777216, description: 'Largest message accepted; twice this closes the socket (1009)' }),
  WS_MESSAGES_PER_SECOND: Type.Number({ default: 50, minimum: 1, maximum: 100000, description: 'Per-connection message rate (token bucket refill)' }),
  WS_MESSAGE_BURST: Type.Integer({ default: 100, minimum: 1, maximum: 100000, description: 'Per-connection burst; more refusals in a row than this closes the socket (4029)' }),
  WS_HEARTBEAT_INTERVAL_MS: Type.Integer({ default: 15000, minimum: 100, maximum: 300000, description: 'Server ping interval; a socket that misses one is terminated' }),
  WS_SEND_BUFFER_LIMIT_BYTES: Type.Integer({ default: 1048576, minimum: 1024, description: 'A slower consumer is disconnected (4008)' }),
  RESUME_GRACE_SECONDS: Type.Number({ default: 30, minimum: 0, maximum: 3600, description: 'How long a dropped peer stays in its rooms, resumable, before others see peer-left' }),
  RESUME_BUFFER_MESSAGES: Type.Integer({ default: 512, minimum: 1, maximum: 100000, description: 'Replay buffer per peer, in messages' }),
  RESUME_BUFFER_BYTES: Type.Integer({ default: 1048576, minimum: 1024, description: 'Replay buffer per peer, in bytes' }),
  RECONNECT_JITTER_MS: Type.Integer({ default: 5000, minimum: 0, maximum: 600000, description: 'Spread of reconnects after a drain' }),
  TOKEN_EXPIRY_WARNING_SECONDS: Type.Integer({ default: 60, minimum: 0, maximum: 3600, description: 'token-expiring is sent this long before the JWT lapses' })
})
export type SignalingConfig = Static<typeof SignalingConfigSchema>

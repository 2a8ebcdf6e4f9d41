/**
 * Every Redis key and channel the shared registry uses. All start with REDIS_KEY_PREFIX, so several
 * deployments can share one Redis. The part in braces is a Redis Cluster hash tag: keys with the same
 * tag live in the same slot, which is what lets one Lua script touch a peer's session, buffer and rooms
 * (or a room's members) atomically. Tags are typed (`p:`, `r:`, ...) so a peer id can never collide
 * with a room name. Room names and peer ids cannot contain braces (see messages.ts); user ids can, so
 * they are URI-encoded.
 */
export class RedisKeys {
  constructor (readonly prefix: string) {}

  /** zset of instance id => last heartbeat (ms). How reapers find instances; an entry leaves once its instance was reaped. */
  instances (): string { return `${this.prefix}instances` }

  /** string "1" with a short TTL (REDIS_INSTANCE_TTL_SECONDS), refreshed by the heartbeat: the instance is alive while it exists. */
  instanceAlive (instanceId: string): string { return `${this.prefix}inst:{i:${instanceId}}:alive` }
  /** set of peer ids whose sessions this instance owns (connected here, or in their grace period). */
  instancePeers (instanceId: string): string { return `${this.prefix}inst:{i:${instanceId}}:peers` }
  /** set of encoded user ids with connections counted on this instance (see connections()). */
  instanceUsers (instanceId: string): string { return `${this.prefix}inst:{i:${instanceId}}:users` }
  /** set of rooms whose outbox this instance may have written and not yet moved: a reaper moves them if it dies. */
  instanceOutboxes (instanceId: string): string { return `${this.prefix}inst:{i:${instanceId}}:outboxes` }
  /** string: id of the instance reaping this (dead) one; SET NX with a TTL, so one reaper at a time. */
  instanceReaper (instanceId: string): string { return `${this.prefix}inst:{i:${instanceId}}:reaper` }
  /** pub/sub channel the instance subscribes to: `m <peerId> <seq> <json>` messages, `t <peerId> <epoch>` takeovers, `r <peerId> <epoch>` adoptions and `a <kind> <json>` admin notices (redis-channel.ts). */
  instanceChannel (instanceId: string): string { return `${this.prefix}inst:{i:${instanceId}}:chan` }

  /**
   * hash, one peer session: userId, owner (instance id), tok (resume token hash of the latest welcome),
   * prev (the one the last resume presented, still valid until its successor is used), seq (last seq issued),
   * evicted (highest seq dropped from the buffer), bytes (buffer size in UTF-8 bytes), attached (1 while a
   * socket is open on the owner), detachedAt (Redis time, ms, when the socket dropped), epoch (grows with
   * every resume claim and adoption: the socket of the highest epoch is the live one).
   */
  peer (peerId: string): string { return `${this.prefix}peer:{p:${peerId}}` }
  /** list of the peer's replay buffer: stamped JSON messages with consecutive seqs, oldest first. */
  peerBuffer (peerId: string): string { return `${this.prefix}peer:{p:${peerId}}:buf` }
  /** set of room names the peer is in (its side of the membership, for MAX_ROOMS_PER_PEER and cleanup). */
  peerRooms (peerId: string): string { return `${this.prefix}peer:{p:${peerId}}:rooms` }
  /**
   * set of rooms the peer's join is under way for: counted against MAX_ROOMS_PER_PEER and seen by
   * notices about the room, but not by relays (a join the room refuses must let nothing through).
   */
  peerJoining (peerId: string): string { return `${this.prefix}peer:{p:${peerId}}:joining` }

  /** hash of peerId => PeerInfo JSON: the room's members (its side, for ROOM_CAPACITY). */
  room (room: string): string { return `${this.prefix}room:{r:${room}}` }

  /**
   * hash, the room's record beside its members: createdAt (Redis time, ms, when it last went from empty to
   * occupied, or its settings were first put), grantCap (the capacity of the grant that started it),
   * capacity (the admin API's), settings (RoomSettings JSON). Outlives an empty room while it has settings.
   */
  roomInfo (room: string): string { return `${this.prefix}room:{r:${room}}:info` }
  /**
   * hash of peerId => when it joined (Redis time, ms): the admin API's joinedAt, and the arrivals that
   * a member written back after Redis lost the room was not there to see.
   */
  roomJoined (room: string): string { return `${this.prefix}room:{r:${room}}:joined` }
  /**
   * hash of peerId => `<when it left (Redis time, ms)> <reason>`: the room's recent departures, so a
   * member written back after Redis lost the room learns who left while it was not in it (swbRoomRestore).
   */
  roomDeparted (room: string): string { return `${this.prefix}room:{r:${room}}:departed` }
  /**
   * stream, the room's outbox: membership events (fields type, data: ids-only JSON) appended by the room's
   * own scripts, so their entry ids are the order of the room's changes; emptied as they reach the webhook
   * queue (redis-outbox.ts). Never deleted while in use, so its ids keep growing (they name the events).
   */
  roomEvents (room: string): string { return `${this.prefix}room:{r:${room}}:events` }
  /** string: the instance moving the room's outbox right now, with a short TTL (one mover at a time keeps the order). */
  roomMover (room: string): string { return `${this.prefix}room:{r:${room}}:mover` }
  /**
   * zset of room names (all scores 0, so ZRANGEBYLEX pages them by name): how the admin API lists rooms.
   * A room leaves it when it empties without settings, or is ended; names left stale (an instance died
   * mid-way) are pruned as they are read.
   */
  roomIndex (): string { return `${this.prefix}rooms` }
  /**
   * zset of `<startedAt> <room>` => when that room (the one that started then) reaches its max duration
   * (Redis time, ms): swept by every instance's reaper loop, so a room ends even if the instance that
   * armed it is gone. A claimed entry is pushed back by a lease until its end is done, then removed.
   */
  roomDeadlines (): string { return `${this.prefix}deadlines` }
  /** hash of encoded user id => when its sessions were revoked (ms): tokens issued before are refused (kept REVOCATION_RETENTION_SECONDS: revocations.ts). */
  revocations (): string { return `${this.prefix}revoked` }

  /** string: peer id of the session answering to this resume token hash (its tok or prev), or `~ended` once that session ended. */
  resumeToken (tokenHash: string): string { return `${this.prefix}tok:{t:${tokenHash}}` }

  /** hash of instance id => open connections of one user on that instance (MAX_CONNECTIONS_PER_USER is their sum). */
  connections (encodedUserId: string): string { return `${this.prefix}conn:{u:${encodedUserId}}` }

  /** Key namespace of @fastify/rate-limit's Redis store (it appends the route and the client key). */
  rateLimitNamespace (): string { return `${this.prefix}ratelimit:` }
}

/** Value of a resume-token key whose session has ended (peer ids never contain `~`). */
export const ENDED_TOKEN = '~ended'

/** User ids are free text: encode them so braces cannot cut a hash tag short. */
export function encodeUserId (userId: string): string {
  return encodeURIComponent(userId)
}

import type { RedisClient } from './redis-connection.js'
import { LUA_MESSAGE_PAYLOAD } from './redis-channel.js'

/**
 * The Lua scripts behind every check-and-change of the shared registry. Each script touches keys of a
 * single hash tag (one peer, one room or one user), so it runs atomically on one Redis Cluster slot.
 * Scripts that stamp times read Redis' own clock (TIME), so instances need no clock agreement.
 * Conventions: a missing session is `false` (nil); peer keys are [session, rooms, buffer].
 */

/** Redis time in ms, as a string that Lua's number formatting cannot turn into 1.7e+12. */
const NOW_MS = `local t = redis.call('TIME')
local now = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))`

/**
 * Records one membership event in the room's outbox (a stream in the room's slot): called by the room
 * scripts in the same step as the change, so the outbox order is the order of the room's changes, and
 * the event is as durable as the change. `info` is the member's PeerInfo JSON: only its ids are kept.
 */
const RECORD = `local function record(outbox, ttl, room, kind, info, reason)
  local p = cjson.decode(info)
  local d = {room = room, peerId = p.peerId, userId = p.userId}
  if type(p.role) == 'string' then d.role = p.role end
  if reason then d.reason = reason end
  redis.call('XADD', outbox, '*', 'type', kind, 'data', cjson.encode(d))
  redis.call('PEXPIRE', outbox, ttl)
end`

export const SCRIPTS = {
  /** KEYS session, rooms, buf · ARGV userId, owner, tokenHash, ttlMs → 1. A fresh session replaces any leftover (and has no previous token). */
  swbCreateSession: {
    keys: 3,
    lua: `redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'owner', ARGV[2], 'tok', ARGV[3], 'seq', 0, 'evicted', 0, 'bytes', 0, 'attached', 0, 'epoch', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`
  },

  /**
   * KEYS session, rooms · ARGV tokenHash → {userId, seq, rooms} if the session answers to this token
   * (its current `tok` or its previous `prev`), else nil.
   */
  swbFindSession: {
    keys: 2,
    lua: `local s = redis.call('HMGET', KEYS[1], 'userId', 'seq', 'tok', 'prev')
if not s[1] or (s[3] ~= ARGV[1] and s[4] ~= ARGV[1]) then return false end
return {s[1], s[2], redis.call('SMEMBERS', KEYS[2])}`
  },

  /**
   * Resume here: KEYS session, rooms · ARGV newTokenHash, presentedTokenHash, me, ttlMs → nil when the
   * session is gone or no longer answers to the presented token (a concurrent resume already retired
   * it), else {userId, previousOwner, seq, rooms, supersededTokens, epoch}. The session answers to the
   * new token and the presented one from now on (the welcome with the new one may be lost); the tokens
   * it answered to before, other than these two, are returned for the caller to delete their keys
   * (other slots). `epoch` grows by one per claim: it orders racing resumes, wherever they run.
   */
  swbClaim: {
    keys: 2,
    lua: `local s = redis.call('HMGET', KEYS[1], 'userId', 'owner', 'seq', 'tok', 'prev')
if not s[1] or (s[4] ~= ARGV[2] and s[5] ~= ARGV[2]) then return false end
local superseded = {}
for i = 4, 5 do
  local h = s[i]
  if h and h ~= '' and h ~= ARGV[1] and h ~= ARGV[2] and h ~= superseded[1] then superseded[#superseded + 1] = h end
end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'tok', ARGV[1], 'prev', ARGV[2], 'owner', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {s[1], s[2] or '', s[3], redis.call('SMEMBERS', KEYS[2]), superseded, epoch}`
  },

  /**
   * KEYS session, rooms, buf, joining · ARGV expectedOwner ('' = whoever) → nil (no session), {0} (owned
   * by another instance now: left alone), or {1, owner, tokenHash, previousTokenHash, rooms} once deleted
   * (the token hashes are '' when absent; rooms include those a join was under way for, which the room
   * may have taken).
   */
  swbEndSession: {
    keys: 4,
    lua: `local s = redis.call('HMGET', KEYS[1], 'owner', 'tok', 'prev')
if not s[1] then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return false
end
if ARGV[1] ~= '' and s[1] ~= ARGV[1] then return {0} end
local rooms = redis.call('SMEMBERS', KEYS[2])
for _, room in ipairs(redis.call('SMEMBERS', KEYS[4])) do table.insert(rooms, room) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return {1, s[1], s[2] or '', s[3] or '', rooms}`
  },

  /**
   * The peer's side of a join, first step: KEYS session, rooms, joining · ARGV room, maxRooms, ttlMs →
   * -1 unknown peer, 0 already in it, 1 reserved, 2 too many rooms. A reservation (in `joining`) counts
   * against maxRooms and lets notices about the room through, but not relays: until swbPeerConfirmRoom
   * a relay to the peer in that room is refused, so a join the room refuses (full) lets nothing through.
   */
  swbPeerAddRoom: {
    keys: 3,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[2]) + redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[2]) then return 2 end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1`
  },

  /**
   * The peer's side of a join, second step, once the room took the peer (ARGV took = '1') or refused it
   * ('0'): KEYS session, rooms, joining · ARGV room, took, ttlMs → 1 a member now, 0 not.
   */
  swbPeerConfirmRoom: {
    keys: 3,
    lua: `redis.call('SREM', KEYS[3], ARGV[1])
if ARGV[2] ~= '1' or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`
  },

  /**
   * The room's side of a join, where capacity is decided: KEYS room, info, joined, events · ARGV peerId,
   * peerInfoJson, defaultCapacity, ttlMs, grantCapacity ('' = none), infoTtlMs, record (the room name: record
   * room.started and peer.joined in the outbox; '' = record nothing) → {0, capacity} full,
   * {1, members, createdAt, settings} already a member, {2, members, createdAt, settings, started} joined
   * (started = 1 when this join started the room). Members are PeerInfo JSON; settings is RoomSettings
   * JSON or ''. Capacity: the admin API's, else the grant that started the room, else the default.
   */
  swbRoomJoin: {
    keys: 4,
    lua: `${RECORD}
local info = redis.call('HMGET', KEYS[2], 'createdAt', 'settings', 'capacity', 'grantCap')
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {1, redis.call('HVALS', KEYS[1]), info[1] or '0', info[2] or ''} end
local size = redis.call('HLEN', KEYS[1])
local grant = info[4]
if size == 0 then grant = ARGV[5] end
local cap = tonumber(info[3] or '') or tonumber(grant or '') or tonumber(ARGV[3])
if size >= cap then return {0, cap} end
${NOW_MS}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], now)
local createdAt = info[1] or now
local started = 0
if size == 0 then
  createdAt = now
  started = 1
  redis.call('HSET', KEYS[2], 'createdAt', now)
  if ARGV[5] == '' then redis.call('HDEL', KEYS[2], 'grantCap') else redis.call('HSET', KEYS[2], 'grantCap', ARGV[5]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if ARGV[7] ~= '' then
  if started == 1 then record(KEYS[4], ARGV[6], ARGV[7], 'room.started', ARGV[2]) end
  record(KEYS[4], ARGV[6], ARGV[7], 'peer.joined', ARGV[2])
end
return {2, redis.call('HVALS', KEYS[1]), createdAt, info[2] or '', started}`
  },

  /**
   * The admin API's settings: KEYS info · ARGV settingsJson, capacity ('' = none), ttlMs → createdAt
   * (set to now when the room has no record yet).
   */
  swbRoomSettings: {
    keys: 1,
    lua: `local createdAt = redis.call('HGET', KEYS[1], 'createdAt')
if not createdAt then
  ${NOW_MS}
  createdAt = now
  redis.call('HSET', KEYS[1], 'createdAt', now)
end
redis.call('HSET', KEYS[1], 'settings', ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'capacity') else redis.call('HSET', KEYS[1], 'capacity', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return createdAt`
  },

  /**
   * Ends a room at once: KEYS room, info, joined, events · ARGV startedAt ('' = whichever), record (room
   * name, or ''), endReason, eventsTtlMs → nil when there is no such room (no members and no record; with
   * startedAt: it started at another time, or nobody is in it any more, so it already ended), else its
   * members (PeerInfo JSON), all removed along with its record, so the name starts afresh. Recorded: each
   * member's peer.left (removed), then room.ended (with the last member's ids), as if they left one by one.
   */
  swbRoomEnd: {
    keys: 4,
    lua: `${RECORD}
local createdAt = redis.call('HGET', KEYS[2], 'createdAt')
local members = redis.call('HVALS', KEYS[1])
if not createdAt and #members == 0 then return false end
if ARGV[1] ~= '' and (createdAt ~= ARGV[1] or #members == 0) then return false end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
if ARGV[2] ~= '' and #members > 0 then
  for _, m in ipairs(members) do record(KEYS[4], ARGV[4], ARGV[2], 'peer.left', m, 'removed') end
  record(KEYS[4], ARGV[4], ARGV[2], 'room.ended', members[#members], ARGV[3])
end
return members`
  },

  /**
   * Re-adds a member after Redis lost its data (capacity was checked when it first joined): KEYS room,
   * departed, joined · ARGV peerId, json, ttlMs, sinceMs → {{departedPeerId, reason, ...}, {PeerInfo
   * JSON, ...}}. When the member was not in the room (it is written back, not merely refreshed): the
   * peers that left since `sinceMs` (Redis time) and are not in it now, and the members that joined
   * since then. Nobody could tell the member about either, nor the newcomers about the member.
   */
  swbRoomRestore: {
    keys: 3,
    lua: `local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local departures, arrivals = {}, {}
if added == 1 then
  local since = tonumber(ARGV[4])
  local departed = redis.call('HGETALL', KEYS[2])
  for i = 1, #departed, 2 do
    local peer = departed[i]
    local at, reason = string.match(departed[i + 1], '^(%d+) (.+)$')
    if peer ~= ARGV[1] and at and tonumber(at) >= since and redis.call('HEXISTS', KEYS[1], peer) == 0 then
      departures[#departures + 1] = peer
      departures[#departures + 1] = reason
    end
  end
  local joined = redis.call('HGETALL', KEYS[3])
  for i = 1, #joined, 2 do
    local info = redis.call('HGET', KEYS[1], joined[i])
    if joined[i] ~= ARGV[1] and info and tonumber(joined[i + 1]) >= since then arrivals[#arrivals + 1] = info end
  end
end
return {departures, arrivals}`
  },

  /**
   * KEYS room, joined, events, departed · ARGV peerId, withMembers ('1'/'0'), record (room name, or ''),
   * reason, endReason, eventsTtlMs, departedTtlMs → nil when it was not a member, else {its PeerInfo JSON,
   * how many are left, the members left (PeerInfo JSON; empty unless withMembers)}. Removal and count in
   * one step: of all the removals of a room, exactly one sees it become empty (and records room.ended
   * after its peer.left). The departure is noted (swbRoomRestore reads it) in the same step.
   */
  swbRoomDepart: {
    keys: 4,
    lua: `${RECORD}
redis.call('HDEL', KEYS[2], ARGV[1])
local info = redis.call('HGET', KEYS[1], ARGV[1])
if not info then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
${NOW_MS}
redis.call('HSET', KEYS[4], ARGV[1], now .. ' ' .. ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
local members = {}
if ARGV[2] == '1' then members = redis.call('HVALS', KEYS[1]) end
local left = redis.call('HLEN', KEYS[1])
if ARGV[3] ~= '' then
  record(KEYS[3], ARGV[6], ARGV[3], 'peer.left', info, ARGV[4])
  if left == 0 then record(KEYS[3], ARGV[6], ARGV[3], 'room.ended', info, ARGV[5]) end
end
return {info, left, members}`
  },

  /**
   * A member's PeerInfo as the room has it: KEYS room, events · ARGV peerId, record (room name: record
   * peer.resumed, in the same step that finds it a member; '' = nothing), eventsTtlMs → its JSON, or nil.
   */
  swbRoomMember: {
    keys: 2,
    lua: `${RECORD}
local info = redis.call('HGET', KEYS[1], ARGV[1])
if not info then return false end
if ARGV[2] ~= '' then record(KEYS[2], ARGV[3], ARGV[2], 'peer.resumed', info) end
return info`
  },

  /**
   * Starts moving a room's outbox (one mover at a time, so its events reach the queue in order): KEYS
   * events, mover · ARGV me, lockMs, count → nil while another instance moves it, else its first `count`
   * events ({entryId, {field, value, ...}}); the mover key is ours (or released when there are none).
   */
  swbOutboxTake: {
    keys: 2,
    lua: `local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return false end
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[3])
if #entries == 0 then
  if holder then redis.call('DEL', KEYS[2]) end
  return {}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return entries`
  },

  /**
   * Those events are queued: KEYS events, mover · ARGV me, lockMs, entryIds... → how many are left (the
   * mover key then stays ours; 0: released), or -1 when it is not ours any more. Entries are deleted,
   * never the stream: its ids keep growing, so they name events for good.
   */
  swbOutboxTrim: {
    keys: 2,
    lua: `redis.call('XDEL', KEYS[1], unpack(ARGV, 3))
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local left = redis.call('XLEN', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[2]) else redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return left`
  },

  /**
   * The whole delivery of one message, in one round trip: KEYS session, rooms, buf, joining · ARGV room
   * ('' = no room check: a server message), body (JSON object without seq), maxMessages, maxBytes, ttlMs,
   * me, channelHead, channelTail, deadline (Redis time in ms; 0 = none), peerId, notice ('1': a notice
   * about the room, which a peer whose join is under way gets too; '0': a relay, for members only) →
   * {status, seq, attached}.
   * status: -1 no such session, -2 not a member of the room, -3 the deadline passed (the sender was
   * already told the registry is unavailable: nothing is done); 1 the peer is owned by `me` (the caller
   * pushes it), 2 published to its owner's channel (head .. owner .. tail). In between it issues the
   * next seq, keeps the stamped message for replay (oldest evicted past either bound, bytes counted in
   * UTF-8) and says whether a socket is attached. The body travels to Redis once.
   */
  swbRelay: {
    keys: 4,
    lua: `local deadline = tonumber(ARGV[9])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline then return {-3, 0, '0'} end
end
local s = redis.call('HMGET', KEYS[1], 'owner', 'attached')
if not s[1] then return {-1, 0, '0'} end
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 and (ARGV[11] ~= '1' or redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0) then
  return {-2, 0, '0'}
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local body = ARGV[2]
local json
if string.len(body) > 2 then json = '{"seq":' .. seq .. ',' .. string.sub(body, 2) else json = '{"seq":' .. seq .. '}' end
local len = redis.call('RPUSH', KEYS[3], json)
local bytes = redis.call('HINCRBY', KEYS[1], 'bytes', string.len(json))
local maxMessages, maxBytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local evicted = false
while len > 0 and (len > maxMessages or bytes > maxBytes) do
  local old = redis.call('LPOP', KEYS[3])
  evicted = seq - len + 1
  len = len - 1
  bytes = redis.call('HINCRBY', KEYS[1], 'bytes', -string.len(old))
end
if evicted then redis.call('HSET', KEYS[1], 'evicted', evicted) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
if s[1] == ARGV[6] then return {1, seq, s[2] or '0'} end
local peer = ARGV[10]
redis.call('PUBLISH', ARGV[7] .. s[1] .. ARGV[8], ${LUA_MESSAGE_PAYLOAD})
return {2, seq, s[2] or '0'}`
  },

  /**
   * KEYS session, buf · ARGV afterSeq, strict → {status, seq, firstSeq, messages}. status 0 ok, -1
   * unknown peer, -2 afterSeq ahead of the session, -3 messages after it were evicted. Not strict
   * (gap filling): whatever is still buffered after afterSeq, status 0.
   */
  swbRange: {
    keys: 2,
    lua: `local s = redis.call('HMGET', KEYS[1], 'seq', 'evicted')
if not s[1] then return {-1} end
local seq, evicted, after = tonumber(s[1]), tonumber(s[2] or '0'), tonumber(ARGV[1])
if ARGV[2] == '1' and after > seq then return {-2, seq} end
if ARGV[2] == '1' and after < evicted then return {-3, seq} end
local len = redis.call('LLEN', KEYS[2])
local first = seq - len + 1
local start = after + 1 - first
if start < 0 then start = 0 end
return {0, seq, first + start, redis.call('LRANGE', KEYS[2], start, -1)}`
  },

  /** KEYS session, buf · ARGV seq → how many messages up to seq left the buffer (a replay from before them now fails). */
  swbAck: {
    keys: 2,
    lua: `local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if seq < 0 then return 0 end
local len = redis.call('LLEN', KEYS[2])
local n = tonumber(ARGV[1]) - (seq - len + 1) + 1
local removed = 0
while n > 0 do
  local old = redis.call('LPOP', KEYS[2])
  if not old then break end
  redis.call('HINCRBY', KEYS[1], 'bytes', -string.len(old))
  n = n - 1
  removed = removed + 1
end
if removed > 0 then redis.call('HSET', KEYS[1], 'evicted', seq - len + removed) end
return removed`
  },

  /**
   * KEYS session · ARGV me, ttlMs, epoch → the session's seq if this instance owns it under that epoch
   * (now marked attached), else nil: a newer claim won meanwhile, and this socket must give way.
   */
  swbAttach: {
    keys: 1,
    lua: `local s = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if s[1] ~= ARGV[1] or tonumber(s[2] or '0') ~= tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], 'attached', 1)
redis.call('HDEL', KEYS[1], 'detachedAt')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[1], 'seq')`
  },

  /** KEYS session · ARGV me → 1 if this instance owns it (now detached since Redis' now), else 0. */
  swbDetach: {
    keys: 1,
    lua: `if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
${NOW_MS}
redis.call('HSET', KEYS[1], 'attached', 0, 'detachedAt', now)
return 1`
  },

  /**
   * A reaper takes over a dead instance's session for the rest of its grace period:
   * KEYS session, rooms, joining · ARGV deadInstance, me, graceMs, ttlMs → nil if the session is gone or
   * owned by someone else (it resumed), else {remainingGraceMs, userId, tokenHash, previousTokenHash, seq, rooms, epoch}.
   * Adopting is a claim too: the epoch grows, so a stalled (not dead) owner retires its socket.
   * The grace counts from when its socket dropped, or from now if it was connected when its instance died.
   */
  swbAdopt: {
    keys: 3,
    lua: `local s = redis.call('HMGET', KEYS[1], 'owner', 'detachedAt', 'userId', 'tok', 'seq', 'attached', 'prev')
if not s[1] or s[1] ~= ARGV[1] then return false end
${NOW_MS}
local detachedAt = now
if s[6] ~= '1' and s[2] then detachedAt = s[2] end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'attached', 0, 'detachedAt', detachedAt)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local remaining = tonumber(detachedAt) + tonumber(ARGV[3]) - tonumber(now)
if remaining < 0 then remaining = 0 end
local rooms = redis.call('SMEMBERS', KEYS[2])
for _, room in ipairs(redis.call('SMEMBERS', KEYS[3])) do table.insert(rooms, room) end
return {remaining, s[3], s[4] or '', s[7] or '', s[5], rooms, epoch}`
  },

  /**
   * After a Redis outage: KEYS session, rooms, buf · ARGV me, userId, tokenHash, previousTokenHash ('' =
   * none), seq, attached, ttlMs, epoch, rooms... → {'lost'} (another instance owns it now), {'kept', seq, epoch} (Redis
   * still had it) or {'restored', seq, epoch} (Redis came back empty: recreated from this instance's copy; the replay buffer is
   * gone, so `evicted` = seq makes a resume from before it fail instead of silently skipping messages).
   */
  swbRestore: {
    keys: 3,
    lua: `local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return {'lost', '0', '0'} end
local status = 'kept'
if not owner then
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[1], 'userId', ARGV[2], 'owner', ARGV[1], 'tok', ARGV[3], 'seq', ARGV[5], 'evicted', ARGV[5], 'bytes', 0, 'attached', ARGV[6], 'epoch', ARGV[8])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'prev', ARGV[4]) end
  if ARGV[6] ~= '1' then
    ${NOW_MS}
    redis.call('HSET', KEYS[1], 'detachedAt', now)
  end
  status = 'restored'
end
redis.call('DEL', KEYS[2])
for i = 9, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {status, redis.call('HGET', KEYS[1], 'seq'), redis.call('HGET', KEYS[1], 'epoch') or '0'}`
  },

  /** Keeps a live session's keys from expiring: KEYS session, rooms, buf · ARGV ttlMs. */
  swbTouch: {
    keys: 3,
    lua: `redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
return 1`
  },

  /**
   * Claims the room deadlines that have passed: KEYS deadlines · ARGV leaseMs, count → the members due
   * (`<startedAt> <room>`), each pushed back by leaseMs: it comes due again only if the claimer did not
   * remove it by then (it died, or ending the room failed).
   */
  swbDeadlinesDue: {
    keys: 1,
    lua: `${NOW_MS}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], tonumber(now) + tonumber(ARGV[1]), m) end
return due`
  },

  /** KEYS connections · ARGV me, max, ttlMs → 1 (counted here) or 0 (the user has `max` open across all instances). */
  swbConnAcquire: {
    keys: 1,
    lua: `local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
if sum >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`
  },

  /** KEYS connections · ARGV me → what is left on this instance. */
  swbConnRelease: {
    keys: 1,
    lua: `local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`
  },

  /** KEYS connections · ARGV me, count, ttlMs: this instance's count, written back after an outage. */
  swbConnSet: {
    keys: 1,
    lua: `if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1`
  }
} as const

export type ScriptName = keyof typeof SCRIPTS

/** What each script answers (ioredis turns Lua integers into numbers, strings stay strings, nil is null). */
export interface ScriptReplies {
  swbCreateSession: 1
  swbFindSession: [userId: string, seq: string, rooms: string[]] | null
  swbClaim: [userId: string, previousOwner: string, seq: string, rooms: string[], superseded: string[], epoch: number] | null
  swbEndSession: [1, owner: string, tokenHash: string, previousTokenHash: string, rooms: string[]] | [0] | null
  swbPeerAddRoom: -1 | 0 | 1 | 2
  swbPeerConfirmRoom: 0 | 1
  swbRoomJoin: [0, capacity: number] | [1, members: string[], createdAt: string, settings: string] | [2, members: string[], createdAt: string, settings: string, started: number]
  swbRoomSettings: string
  swbRoomEnd: string[] | null
  swbRoomRestore: [departures: string[], arrivals: string[]]
  swbRoomDepart: [info: string, left: number, members: string[]] | null
  swbRoomMember: string | null
  swbOutboxTake: Array<[entryId: string, fields: string[]]> | null
  swbOutboxTrim: number
  swbRelay: [status: -3 | -2 | -1 | 1 | 2, seq: number, attached: string]
  swbRange: [status: number, seq?: number, firstSeq?: number, messages?: string[]]
  swbAck: number
  swbAttach: string | null
  swbDetach: 0 | 1
  swbAdopt: [remainingMs: number, userId: string, tokenHash: string, previousTokenHash: string, seq: string, rooms: string[], epoch: number] | null
  swbRestore: [status: 'lost' | 'kept' | 'restored', seq: string, epoch: string]
  swbTouch: 1
  swbDeadlinesDue: string[]
  swbConnAcquire: 0 | 1
  swbConnRelease: number
  swbConnSet: 1
}

/** Registers every script on the client (EVALSHA, with EVAL on NOSCRIPT: a restarted Redis has none cached). */
export function defineScripts (client: RedisClient): void {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    client.defineCommand(name, { numberOfKeys: script.keys, lua: script.lua })
  }
}

type Arg = string | number
type ScriptCommand = (...a: Arg[]) => Promise<unknown>

/** Runs a script defined by defineScripts(); keys first, then arguments. Not async: the relay path adds no promise of its own. */
export function runScript<N extends ScriptName> (client: RedisClient, name: N, keys: string[], args: Arg[]): Promise<ScriptReplies[N]> {
  if (keys.length !== SCRIPTS[name].keys) return Promise.reject(new Error(`${name} takes ${SCRIPTS[name].keys} keys`))
  const command = (client as unknown as Record<ScriptName, ScriptCommand>)[name]
  return command.call(client, ...keys, ...args) as Promise<ScriptReplies[N]>
}

/**
 * The format of what instances tell each other over their pub/sub channels (RedisKeys.instanceChannel).
 * Four kinds, space-separated so that decoding needs no JSON parse of the (possibly large) body:
 *
 *   m <peerId> <seq> <json>   a stamped message for a peer whose socket is on the receiving instance
 *   t <peerId> <epoch>        that peer was claimed elsewhere by `epoch`: retire older local sockets
 *   r <peerId> <epoch>        that peer's session was adopted by a reaper (`epoch`): this instance was
 *                             presumed dead; retire older local sockets so their clients resume
 *   a <kind> <json>           an admin notice (AdminNotice): rare, so decoded last and parsed as JSON
 *
 * Peer ids never contain spaces (messages.ts), so the first two fields cannot be confused.
 */

/** A session that ended is claimed by this epoch: every socket of it is older. */
export const SESSION_ENDED_EPOCH = Number.MAX_SAFE_INTEGER

/** Builds the `m` payload inside the relay script (`peer`, `seq` and `json` are Lua variables). */
export const LUA_MESSAGE_PAYLOAD = `'m ' .. peer .. ' ' .. seq .. ' ' .. json`

export function takeoverPayload (peerId: string, epoch: number): string {
  return `t ${peerId} ${epoch}`
}

export function adoptionPayload (peerId: string, epoch: number): string {
  return `r ${peerId} ${epoch}`
}

/**
 * What the admin API changes on a peer or user held by other instances: `left` (the peer was taken out
 * of a room elsewhere: forget the room in the local copy), `revoke` (end the user's sessions held here).
 */
export type AdminNotice =
  | { kind: 'left', peerId: string, room: string }
  | { kind: 'revoke', userId: string, at: number }

export function adminPayload (notice: AdminNotice): string {
  const { kind, ...rest } = notice
  return `a ${kind} ${JSON.stringify(rest)}`
}

export interface ChannelHandler {
  message (peerId: string, seq: number, json: string): void
  /** `adopted`: no socket claimed the peer, a reaper did (an `r` notice). */
  takeover (peerId: string, epoch: number, adopted: boolean): void
  admin (notice: AdminNotice): void
}

/** Decodes one payload straight into the handler (no intermediate object on the delivery path). */
export function dispatchChannelMessage (payload: string, handler: ChannelHandler): void {
  const a = payload.indexOf(' ', 2)
  if (a < 0) return
  const peerId = payload.slice(2, a)
  if (payload.startsWith('m ')) {
    const b = payload.indexOf(' ', a + 1)
    if (b > 0) handler.message(peerId, Number(payload.slice(a + 1, b)), payload.slice(b + 1))
  } else if (payload.startsWith('t ')) {
    handler.takeover(peerId, Number(payload.slice(a + 1)), false)
  } else if (payload.startsWith('r ')) {
    handler.takeover(peerId, Number(payload.slice(a + 1)), true)
  } else if (payload.startsWith('a ')) {
    // Here the second field is the notice's kind; a malformed notice is ignored like an unknown kind.
    try {
      handler.admin({ kind: peerId, ...JSON.parse(payload.slice(a + 1)) } as AdminNotice)
    } catch {}
  }
}

import type { PeerInfo } from '../signaling/messages.js'
import type { MembershipListener, RoomEndReason } from './types.js'

/**
 * A whole room ended in one step (the admin API, or its max duration): each member left with reason
 * `removed`, and the last departure ends the room with `reason`, as if they had left one by one.
 */
export function endedRoom (listener: MembershipListener, room: string, members: PeerInfo[], reason: RoomEndReason): void {
  members.forEach((member, i) => listener.left(room, member, 'removed', i === members.length - 1 ? reason : undefined))
}

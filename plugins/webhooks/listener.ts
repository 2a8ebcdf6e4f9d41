import type { MembershipListener } from '../registry/types.js'
import type { PeerInfo } from '../signaling/messages.js'
import type { WebhookEvent } from './events.js'

/** Ids only: a PeerInfo's `meta` is the application's and never leaves in a webhook. */
function ids (member: PeerInfo): { peerId: string, userId: string, role?: string } {
  return { peerId: member.peerId, userId: member.userId, ...(member.role !== undefined && { role: member.role }) }
}

/**
 * Turns the registry's membership changes into webhook events. The registry reports each change
 * once, from the instance whose atomic step made it, so each event is emitted once: room.started
 * before the first peer.joined of a room, room.ended after its last peer.left.
 */
export function membershipEvents (emit: (event: WebhookEvent) => void): MembershipListener {
  return {
    joined (room, member, roomStarted) {
      if (roomStarted) emit({ type: 'room.started', data: { room, ...ids(member) } })
      emit({ type: 'peer.joined', data: { room, ...ids(member) } })
    },
    left (room, member, reason, roomEnded) {
      emit({ type: 'peer.left', data: { room, ...ids(member), reason } })
      if (roomEnded !== undefined) emit({ type: 'room.ended', data: { room, reason: roomEnded, ...ids(member) } })
    },
    resumed (room, member) {
      emit({ type: 'peer.resumed', data: { room, ...ids(member) } })
    }
  }
}

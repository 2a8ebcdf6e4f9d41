import type { PeerInfo } from './messages.js'

/**
 * The room lifecycle moments that integrations (webhooks) follow, beyond what each connection reports
 * to the observer. Each is emitted once, on the instance where it happened: a room ended or a peer
 * removed on the instance that did it, a revoked session on the instance that held it.
 */
export interface RoomEventMap {
  /** Every member was taken out: `peers` are who was in it. */
  roomEnded: { room: string, reason: 'api' | 'max-duration', peers: PeerInfo[] }
  /** One member was taken out by the admin API; the others got `peer-left` with reason `removed`. */
  peerRemoved: { room: string, peer: PeerInfo, reason: 'removed' }
  /** The admin API revoked a user's sessions (once, where the call was made); `at` is the cutoff (ms). */
  sessionsRevoked: { userId: string, at: number }
  /** One session of a revoked user ended here (its socket closed with 4003); it was in `rooms`. */
  sessionRevoked: { peerId: string, userId: string, rooms: string[], reason: 'revoked' }
}

export type RoomEventName = keyof RoomEventMap
export type RoomEventListener<K extends RoomEventName> = (event: RoomEventMap[K]) => void

/**
 * A small typed emitter (Node's EventEmitter is untyped and rethrows listener errors into the caller):
 * a listener that throws is reported to `onListenerError` and the others still run.
 */
export class RoomEvents {
  private readonly listeners: { [K in RoomEventName]?: Array<RoomEventListener<K>> } = {}

  constructor (private readonly onListenerError: (err: unknown, event: RoomEventName) => void = () => {}) {}

  /** Adds a listener; returns the function that removes it. */
  on<K extends RoomEventName> (event: K, listener: RoomEventListener<K>): () => void {
    const list = (this.listeners[event] ??= []) as Array<RoomEventListener<K>>
    list.push(listener)
    return () => {
      const i = list.indexOf(listener)
      if (i >= 0) list.splice(i, 1)
    }
  }

  emit<K extends RoomEventName> (event: K, payload: RoomEventMap[K]): void {
    for (const listener of [...(this.listeners[event] ?? [])] as Array<RoomEventListener<K>>) {
      try {
        listener(payload)
      } catch (err) {
        this.onListenerError(err, event)
      }
    }
  }
}

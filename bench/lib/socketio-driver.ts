import { performance } from 'node:perf_hooks'
import { io, type Socket } from 'socket.io-client'
import type { BenchPeer, CompiledSignal, OutgoingSignal, PeerConnection, PeerSpec, ReceivedSignal, SignalKind, SignalingDriver } from './load.js'
import { TAG } from './sdp.js'

/** Event names of bench/socketio-relay.ts, the common Socket.IO signaling vocabulary. */
const EVENT_OF: Record<SignalKind, string> = { offer: 'signal:offer', answer: 'signal:answer', candidate: 'signal:ice-candidate' }
const KIND_OF: Record<string, SignalKind> = { 'signal:offer': 'offer', 'signal:answer': 'answer', 'signal:ice-candidate': 'candidate' }

/** Splits the one string of `text` that holds TAG, so a send only concatenates. */
function splitTag (text: string): [string, string] {
  const [head, tail, extra] = text.split(TAG)
  if (head === undefined || tail === undefined || extra !== undefined) throw new Error('a signal needs exactly one tag')
  return [head, tail]
}

/**
 * bench/socketio-relay.ts as a Socket.IO client app speaks to it: socket.io-client over the WebSocket
 * transport only, `join-session` with room and user id (its acknowledgement lists who is already in
 * the room, `user-joined` announces who comes later), then `signal:*` events `{ to: userId, ... }`.
 * The partner's address is its user id. No acks: Socket.IO has no replay buffer.
 */
export function socketIoDriver (): SignalingDriver {
  return {
    name: 'socketio',
    open (spec: PeerSpec, peer: BenchPeer): PeerConnection {
      const socket: Socket = io(spec.url, {
        transports: ['websocket'],
        forceNew: true, // one engine (one WebSocket) per peer, as separate browsers would have
        reconnection: false, // a drop must show up as an unexpected close, not be papered over
        timeout: 60_000
        // The client offers permessage-deflate; the server (perMessageDeflate: false) declines it.
      })
      let closed = false
      let resolveClosed: () => void = () => {}
      const closedPromise = new Promise<void>((resolve) => { resolveClosed = resolve })
      // The size of the last engine packet: the decoded event that follows it is what it carried.
      let lastPacketBytes = 0
      socket.io.on('open', () => {
        socket.io.engine.on('packet', (packet: { data?: unknown }) => {
          lastPacketBytes = typeof packet.data === 'string' ? Buffer.byteLength(packet.data) : 0
        })
      })
      socket.on('connect', () => {
        socket.emit('join-session', { room: spec.room, userId: spec.userId }, (reply: { peers?: string[], error?: string }) => {
          if (reply.error !== undefined) peer.onControl({ type: 'error', code: `socketio: ${reply.error}` })
          else if (reply.peers?.includes(spec.partnerUserId) === true) peer.setPartner(spec.partnerUserId)
        })
      })
      socket.on('user-joined', ({ userId }: { userId: string }) => {
        if (userId === spec.partnerUserId) peer.setPartner(userId)
      })
      socket.onAny((event: string, payload: Record<string, unknown>) => {
        const at = performance.now()
        const type = KIND_OF[event]
        if (type !== undefined) peer.onSignal({ ...payload, type } as ReceivedSignal, at, lastPacketBytes)
      })
      socket.on('connect_error', (err) => {
        peer.onFailed(new Error(`${spec.userId}: Socket.IO connection failed: ${err.message}`))
        closed = true
        resolveClosed()
      })
      socket.on('disconnect', (reason) => {
        closed = true
        resolveClosed()
        peer.onClosed(reason)
      })
      return {
        compile (message: OutgoingSignal): CompiledSignal {
          const event = EVENT_OF[message.type]
          let build: (tag: number) => Record<string, unknown>
          if (message.sdp !== undefined) {
            const [head, tail] = splitTag(message.sdp)
            build = (tag) => ({ to: message.to, sdp: head + tag + tail })
          } else if (message.candidate !== undefined) {
            const candidate = message.candidate
            const [head, tail] = splitTag(candidate.candidate)
            build = (tag) => ({ to: message.to, candidate: { ...candidate, candidate: head + tag + tail } })
          } else {
            throw new Error('a signal needs an sdp or a candidate')
          }
          // Socket.IO's own encoding: a "42" EVENT packet with the JSON array [event, payload].
          return { send: (tag) => { socket.emit(event, build(tag)) }, bytes: Buffer.byteLength('42' + JSON.stringify([event, build(1)])) }
        },
        sendControl (message) {
          socket.emit(String(message.type), message)
        },
        get closed () { return closed },
        async close () {
          if (!closed) socket.disconnect()
          await closedPromise
        },
        terminate () {
          socket.io.engine?.close()
          socket.disconnect()
        }
      }
    },
    control () {
      // Partner discovery happens in open(): the join acknowledgement and `user-joined`.
    }
  }
}

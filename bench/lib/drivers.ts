import { SignJWT } from 'jose'
import WebSocket from 'ws'
import { SUBPROTOCOL, type ServerMessageOf } from '../../plugins/signaling/messages.js'
import type { BenchPeer, ControlFrame, PeerSpec, SignalingDriver } from './load.js'
import { wsConnection } from './ws-connection.js'

const wsUrl = (base: string, path: string): string => new URL(path, base.replace(/^http/, 'ws')).toString()

/**
 * Switchboard as a real client speaks to it: one HS256 token per peer (its own `sub`, granted only its
 * room), the token in the Authorization header, `switchboard.v1` subprotocol, welcome → join →
 * joined/peer-joined to learn the other peer's id.
 */
export function switchboardDriver (jwtSecret: string): SignalingDriver {
  const key = new TextEncoder().encode(jwtSecret)
  const tokens = new Map<string, string>()
  return {
    name: 'switchboard',
    async prepare (specs) {
      for (const spec of specs) {
        tokens.set(spec.userId, await new SignJWT({ rooms: [spec.room] })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setSubject(spec.userId)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key))
      }
    },
    open (spec: PeerSpec, peer: BenchPeer) {
      const token = tokens.get(spec.userId)
      if (token === undefined) throw new Error(`no token for ${spec.userId}: prepare() first`)
      tokens.delete(spec.userId) // one connection per token; keeps the map from growing over rounds
      return wsConnection(new WebSocket(wsUrl(spec.url, '/v1/signal'), [SUBPROTOCOL], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false }), peer)
    },
    control (peer: BenchPeer, frame: ControlFrame) {
      switch (frame.type) {
        case 'welcome':
          peer.selfId = (frame as unknown as ServerMessageOf<'welcome'>).peerId
          peer.connection.sendControl({ type: 'join', room: peer.spec.room })
          break
        case 'joined': {
          const other = (frame as unknown as ServerMessageOf<'joined'>).peers[0]
          if (other !== undefined) peer.setPartner(other.peerId)
          break
        }
        case 'peer-joined':
          peer.setPartner((frame as unknown as ServerMessageOf<'peer-joined'>).peer.peerId)
          break
        // pong, peer-left, token-expiring...: nothing to do in a benchmark.
      }
    },
    ack (peer: BenchPeer) {
      peer.connection.sendControl({ type: 'ack', seq: peer.lastSeq })
    }
  }
}

/**
 * The baseline (bench/baseline-relay.ts): the room is in the URL, and the relay says `paired` with an
 * id for the other socket once the room has two. No token, no join, no validation.
 */
export function rawRelayDriver (): SignalingDriver {
  return {
    name: 'baseline',
    open (spec: PeerSpec, peer: BenchPeer) {
      return wsConnection(new WebSocket(wsUrl(spec.url, `/?room=${encodeURIComponent(spec.room)}`), { perMessageDeflate: false }), peer)
    },
    control (peer: BenchPeer, frame: ControlFrame) {
      if (frame.type === 'paired' && typeof frame.peer === 'string') peer.setPartner(frame.peer)
    }
  }
}

import t from 'tap'
import type { Socket } from 'node:net'
import { WebSocket } from 'ws'
import type { ServerMessageOf } from '../../client/index.js'
import { makeClient, startServer, connectedClient } from './helpers.js'
import { signTestToken } from '../helpers/tokens.js'

/**
 * One message per task, as in a browser, with `ws` too. The partner's peer-joined and its offer are
 * made to arrive together (the receiving TCP socket is paused while the server writes both): code
 * that resumes after `await` on the peer-joined, the way an app creates its PeerCall, must still see
 * the offer. With `ws`'s default (every frame of a read emitted in one go) it did not, and a call
 * under load never got its offer.
 */

/** A `ws` WebSocket whose TCP socket the test can pause; it passes on whatever the client gives it. */
class PausableWebSocket extends WebSocket {
  static last: PausableWebSocket | undefined
  constructor (...args: ConstructorParameters<typeof WebSocket>) {
    super(...args)
    PausableWebSocket.last = this
  }

  /** The TCP socket under it (`ws` keeps it in a private field). */
  get tcp (): Socket {
    const tcp = (this as unknown as { _socket?: Socket })._socket
    if (tcp === undefined) throw new Error('not connected')
    return tcp
  }
}

t.test('a listener added after awaiting peer-joined still gets the offer that arrived with it', async (t) => {
  const { base } = await startServer(t)
  const room = 'same-read'
  const callee = makeClient(t, base, { token: await signTestToken({ sub: 'callee' }), WebSocket: PausableWebSocket })
  await callee.connect()
  const socket = PausableWebSocket.last
  if (socket === undefined) throw new Error('the client did not use the given WebSocket class')
  const partnerJoined = callee.waitFor('peer-joined', { filter: (m) => m.room === room })
  await callee.join(room)

  // Nothing is read from the callee's socket while the caller joins and sends its offer.
  socket.tcp.pause()
  // Bytes read off the TCP socket when each message was dispatched.
  let bytesAtJoined = -1
  callee.on('peer-joined', () => { bytesAtJoined = socket.tcp.bytesRead })
  const caller = await connectedClient(t, base, 'caller')
  const { peers } = await caller.join(room)
  const calleeId = peers[0]?.peerId
  if (calleeId === undefined) throw new Error('the callee is not in the room')
  caller.sendOffer(room, calleeId, 'v=0 offer')
  // A ping round trip of the caller's: the server handled the offer (and wrote it) before the pong.
  await caller.ping()
  socket.tcp.resume()

  const joined = await partnerJoined
  // What an app does next: create its call for this peer, which listens for the peer's offer.
  let bytesAtOffer = -2
  const offer = await new Promise<ServerMessageOf<'offer'> | 'missed'>((resolve) => {
    const off = callee.on('offer', (m) => { off(); bytesAtOffer = socket.tcp.bytesRead; resolve(m) })
    // The callee's own ping round trip: every frame already received has been dispatched by its pong.
    void callee.ping().then(() => resolve('missed'))
  })
  t.not(offer, 'missed', 'the offer reached a listener added after the peer-joined was awaited')
  if (offer === 'missed') return
  t.equal(bytesAtJoined, bytesAtOffer, 'the offer had been read before peer-joined was dispatched')
  t.match(offer, { type: 'offer', room, from: joined.peer.peerId, sdp: 'v=0 offer' }, 'it is the caller\'s offer')
})

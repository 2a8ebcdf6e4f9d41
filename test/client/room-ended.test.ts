import t from 'tap'
import { randomBytes } from 'node:crypto'
import { cleanup } from 'node-datachannel'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { PeerCall, type PeerCallCloseReason, type PeerConnectionConstructor, type ServerMessageOf, type SwitchboardClient } from '../../client/index.js'
import { ADMIN_KEY, adminClient, enc } from '../helpers/admin-client.js'
import { connectedClient, startServer } from './helpers.js'

/**
 * The integrator's admin API ends a room or removes a peer: the client surfaces the server's
 * `room-ended` and `removed` as typed events, and PeerCall closes the calls in that room (and only
 * those) with the reason. Real instance, real admin API over HTTP, PeerCall on node-datachannel.
 */

// libdatachannel's threads would keep this process alive after the last connection closed.
t.teardown(() => cleanup())

/** A PeerCall on node-datachannel without TURN (nothing is negotiated: only its lifecycle matters here). */
function callTo (t: { teardown (fn: () => unknown): void }, client: SwitchboardClient, room: string, peerId: string): { call: PeerCall, closes: PeerCallCloseReason[] } {
  const call = new PeerCall(client, { room, peerId, iceServers: false, RTCPeerConnection: RTCPeerConnection as unknown as PeerConnectionConstructor })
  t.teardown(() => call.close())
  const closes: PeerCallCloseReason[] = []
  call.on('close', ({ reason }) => closes.push(reason))
  return { call, closes }
}

t.test('room-ended and removed: typed client events, and PeerCall closes the calls in that room', async (t) => {
  const { base } = await startServer(t, { ADMIN_API_KEYS: ADMIN_KEY })
  const admin = adminClient(base)
  const alice = await connectedClient(t, base, 'alice')
  const bob = await connectedClient(t, base, 'bob')
  const suffix = randomBytes(3).toString('hex')
  const ending = `ending-${suffix}`
  const staying = `staying-${suffix}`
  for (const room of [ending, staying]) {
    await alice.join(room)
    await bob.join(room)
  }
  const alicePeer = alice.peerId ?? ''
  const bobPeer = bob.peerId ?? ''
  const aliceEnding = callTo(t, alice, ending, bobPeer)
  const bobEnding = callTo(t, bob, ending, alicePeer)
  const aliceStaying = callTo(t, alice, staying, bobPeer)
  const bobStaying = callTo(t, bob, staying, alicePeer)

  // The integrator ends one room.
  const endedForAlice = alice.waitFor('room-ended', { timeoutMs: 5000 })
  const endedForBob = bob.waitFor('room-ended', { timeoutMs: 5000 })
  t.equal((await admin('DELETE', `/rooms/${enc(ending)}`)).status, 204)
  const [a, b] = await Promise.all([endedForAlice, endedForBob])
  // Typed: the payload is the server's message, reason narrowed to its two values.
  const reason: 'api' | 'max-duration' = a.reason
  t.match(a, { type: 'room-ended', room: ending, reason: 'api', seq: Number })
  t.equal(reason, 'api')
  t.match(b, { type: 'room-ended', room: ending, reason: 'api' })
  // PeerCall's listener runs in the same emit as the one that resolved waitFor: no wait needed.
  t.same(aliceEnding.closes, ['room-ended'], 'alice\'s call in the ended room closed with room-ended')
  t.same(bobEnding.closes, ['room-ended'], 'bob\'s too')
  t.equal(aliceEnding.call.pc?.connectionState, 'closed', 'its connection is closed')
  t.same([aliceStaying.closes, bobStaying.closes], [[], []], 'the calls in the other room go on')
  t.not(aliceStaying.call.pc?.connectionState, 'closed', 'theirs is not')

  // The integrator removes bob from the other room.
  const removed = bob.waitFor('removed', { timeoutMs: 5000 })
  const bobLeft = alice.waitFor('peer-left', { filter: (m) => m.peerId === bobPeer, timeoutMs: 5000 })
  t.equal((await admin('DELETE', `/rooms/${enc(staying)}/peers/${enc(bobPeer)}`)).status, 204)
  const r: ServerMessageOf<'removed'> = await removed
  t.match(r, { type: 'removed', room: staying, reason: 'api' })
  t.same(bobStaying.closes, ['removed'], 'the removed peer\'s call closed with removed')
  t.match(await bobLeft, { room: staying, reason: 'removed' })
  t.same(aliceStaying.closes, ['peer-left'], 'the other side\'s call closed with peer-left')

  // Out means out: there is nothing left to leave (an app's clean-up should expect that).
  await t.rejects(alice.leave(ending), { code: 'SWB_NOT_IN_ROOM' }, 'leave() after room-ended: not in the room')
  await t.rejects(bob.leave(staying), { code: 'SWB_NOT_IN_ROOM' }, 'leave() after removed: not in the room')

  // Both clients are still connected, and the room's name starts afresh.
  t.same([alice.state, bob.state], ['open', 'open'])
  t.match(await bob.join(ending), { room: ending, peers: [] }, 'the ended room can be joined again, empty')
})

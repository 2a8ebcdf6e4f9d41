import t from 'tap'
import { signalingServer, type Harness } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

async function tryJoin (peer: WsPeer, room: string, id: string): Promise<string> {
  peer.send({ type: 'join', id, room })
  const answer = await peer.next((m) => (m.type === 'joined' && m.room === room) || (m.type === 'error' && m.ref === id))
  return answer.type === 'joined' ? 'joined' : answer.code as string
}

async function dropped (h: Harness, peer: WsPeer): Promise<void> {
  peer.drop()
  await peer.closed
  await until(() => !h.app.signaling.hub.connections.has(peer.peerId), 'the server to notice the drop')
}

t.test('ROOM_GRANTS=required (the default): no grant, no room; grants from the claim or the scope admit', async (t) => {
  const h = await signalingServer(t)
  const bare = await h.connect({ sub: 'bare', rooms: undefined })
  t.equal(await tryJoin(bare, 'r1', 'j1'), 'SWB_ROOM_FORBIDDEN', 'a token without any grant joins no room')
  const scoped = await h.connect({ sub: 'scoped', rooms: undefined, scope: 'openid room:clinic-42/*:host' })
  t.equal(await tryJoin(scoped, 'clinic-42/a', 'j2'), 'joined')
  t.match(scoped.ofType('joined')[0], { room: 'clinic-42/a', role: 'host' }, 'the scope role is the room role')
  t.equal(await tryJoin(scoped, 'clinic-42/', 'j3'), 'SWB_ROOM_FORBIDDEN', 'clinic-42/* does not grant clinic-42/')
  t.equal(await tryJoin(scoped, 'clinic-43/a', 'j4'), 'SWB_ROOM_FORBIDDEN')
})

t.test('ROOM_GRANTS=any: a token without any grant joins every room (the behaviour before grants were required)', async (t) => {
  const h = await signalingServer(t, { ROOM_GRANTS: 'any' })
  const bare = await h.connect({ sub: 'bare', rooms: undefined })
  t.equal(await tryJoin(bare, 'r1', 'j1'), 'joined')
  const narrow = await h.connect({ sub: 'narrow', rooms: undefined, scope: ['room:r2'] })
  t.equal(await tryJoin(narrow, 'r1', 'j2'), 'SWB_ROOM_FORBIDDEN', 'a token that grants rooms is held to them')
  t.equal(await tryJoin(narrow, 'r2', 'j3'), 'joined')
})

t.test('a resume re-checks the grants: a room the new token no longer grants is left, the others stay', async (t) => {
  const h = await signalingServer(t, { RESUME_GRACE_SECONDS: 3600 })
  const a = await h.connect({ sub: 'alice', rooms: ['kept', 'revoked'] })
  for (const room of ['kept', 'revoked']) t.equal(await tryJoin(a, room, room), 'joined')
  const inKept = await h.joined('bob', 'kept')
  const inRevoked = await h.joined('carol', 'revoked')
  await a.waitCount('peer-joined', 2)
  await dropped(h, a)

  const resumed = h.track(await WsPeer.resume(h.base, await h.token({ sub: 'alice', rooms: undefined, scope: 'room:kept' }), a))
  t.match(resumed.welcome, { resumed: true, peerId: a.peerId })
  t.same(resumed.welcome.rooms, ['kept'], 'the welcome lists only the rooms still granted')
  t.match(await resumed.next('left'), { room: 'revoked' }, 'the peer is told it left the room (replayed after the welcome)')
  t.match(await inRevoked.next('peer-left'), { room: 'revoked', peerId: a.peerId, reason: 'revoked' })

  // Still in the granted room, both ways; nobody there saw it leave.
  resumed.send({ type: 'message', room: 'kept', to: inKept.peerId, data: 'still here' })
  t.match(await inKept.next('message'), { from: a.peerId, data: 'still here' })
  await inKept.sync()
  t.same(inKept.ofType('peer-left'), [], 'the room still granted saw no peer-left')
  t.equal(await tryJoin(resumed, 'revoked', 'again'), 'SWB_ROOM_FORBIDDEN', 'and it cannot join the revoked room again')

  // The same token again: nothing more is left.
  await dropped(h, resumed)
  const again = h.track(await WsPeer.resume(h.base, await h.token({ sub: 'alice', rooms: ['kept'] }), resumed))
  t.same(again.welcome.rooms, ['kept'])
  await again.sync()
  t.same(again.ofType('left'), [], 'a resume whose token grants every room it is in leaves none')
})

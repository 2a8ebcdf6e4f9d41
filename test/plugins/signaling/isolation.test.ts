import t from 'tap'
import { pair, signalingServer } from '../../helpers/signaling-harness.js'
import type { WsPeer } from '../../helpers/ws-peer.js'

const ROOM_TRAFFIC = ['offer', 'answer', 'candidate', 'message', 'peer-left']

t.test('a peer cannot reach into another room, name a room it is not in, talk to itself, or spoof `from`', async (t) => {
  const h = await signalingServer(t)
  const [mallory, friend] = await pair(h, 'room-a', ['mallory', 'friend'])
  const [victim1, victim2] = await pair(h, 'room-b', ['victim-1', 'victim-2'])

  const attempts: Array<[string, Record<string, unknown>, string]> = [
    // Her own room, but the target is elsewhere.
    ['cross-offer', { type: 'offer', room: 'room-a', to: victim1.peerId, sdp: 'v=0 evil' }, 'SWB_PEER_NOT_IN_ROOM'],
    ['cross-answer', { type: 'answer', room: 'room-a', to: victim1.peerId, sdp: 'v=0 evil' }, 'SWB_PEER_NOT_IN_ROOM'],
    ['cross-candidate', { type: 'candidate', room: 'room-a', to: victim2.peerId, candidate: null }, 'SWB_PEER_NOT_IN_ROOM'],
    ['cross-message', { type: 'message', room: 'room-a', to: victim2.peerId, data: 'evil' }, 'SWB_PEER_NOT_IN_ROOM'],
    // Naming the victims' room, which she is not in.
    ['named-offer', { type: 'offer', room: 'room-b', to: victim1.peerId, sdp: 'v=0 evil' }, 'SWB_NOT_IN_ROOM'],
    ['named-candidate', { type: 'candidate', room: 'room-b', to: victim1.peerId, candidate: { candidate: 'evil' } }, 'SWB_NOT_IN_ROOM'],
    ['named-direct', { type: 'message', room: 'room-b', to: victim1.peerId, data: 'evil' }, 'SWB_NOT_IN_ROOM'],
    ['named-broadcast', { type: 'message', room: 'room-b', data: 'evil' }, 'SWB_NOT_IN_ROOM'],
    ['named-leave', { type: 'leave', room: 'room-b' }, 'SWB_NOT_IN_ROOM'],
    ['unknown-room', { type: 'message', room: 'no-such-room', data: 'evil' }, 'SWB_NOT_IN_ROOM'],
    // Herself.
    ['self-offer', { type: 'offer', room: 'room-a', to: mallory.peerId, sdp: 'v=0' }, 'SWB_PEER_NOT_IN_ROOM'],
    ['self-message', { type: 'message', room: 'room-a', to: mallory.peerId, data: 'echo' }, 'SWB_PEER_NOT_IN_ROOM'],
    ['nobody', { type: 'offer', room: 'room-a', to: 'AAAAAAAAAAAAAAAA', sdp: 'v=0' }, 'SWB_PEER_NOT_IN_ROOM'],
    // Spoofing the sender, in her room and in theirs.
    ['spoof-own-room', { type: 'offer', room: 'room-a', to: friend.peerId, from: victim1.peerId, sdp: 'v=0 evil' }, 'SWB_INVALID_MESSAGE'],
    ['spoof-their-room', { type: 'message', room: 'room-b', to: victim2.peerId, from: victim1.peerId, data: 'evil' }, 'SWB_INVALID_MESSAGE'],
    // Joining their (full) room.
    ['join-full', { type: 'join', room: 'room-b' }, 'SWB_ROOM_FULL']
  ]
  for (const [id, message] of attempts) mallory.send({ ...message, id })
  for (const [id, , code] of attempts) {
    t.match(await mallory.errorFor(id), { type: 'error', code }, id)
  }

  // Every attempt was answered, so anything it had delivered is already on the wire: round-trip each
  // victim and check that nothing arrived.
  for (const p of [victim1, victim2, friend]) await p.sync()
  t.same(victim1.ofType(...ROOM_TRAFFIC), [], 'victim 1 received nothing')
  t.same(victim2.ofType(...ROOM_TRAFFIC), [], 'victim 2 received nothing')
  t.same(friend.ofType(...ROOM_TRAFFIC), [], 'her own roommate received nothing either')
  t.same(mallory.ofType(...ROOM_TRAFFIC), [], 'nothing echoed back to her')
  t.same((await h.app.registry.members('room-b')).map((m) => m.peerId).sort(), [victim1.peerId, victim2.peerId].sort(), 'room-b untouched')

  // And the victims still talk to each other.
  victim1.send({ type: 'message', room: 'room-b', data: 'still here' })
  t.match(await victim2.next('message'), { from: victim1.peerId, data: 'still here' })
})

t.test('sharing one room is not sharing all: a peer in two rooms is reachable only through the room named', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3 })
  const hub = await h.joined('hub', 'r1')
  hub.send({ type: 'join', room: 'r2' })
  await hub.next((m) => m.type === 'joined' && m.room === 'r2')
  const onlyR1 = await h.joined('only-r1', 'r1')
  const onlyR2 = await h.joined('only-r2', 'r2')

  // onlyR2 knows onlyR1's peerId (say, leaked by the hub) but shares no room with it.
  onlyR2.send({ type: 'offer', id: 'via-r2', room: 'r2', to: onlyR1.peerId, sdp: 'v=0' })
  t.match(await onlyR2.errorFor('via-r2'), { code: 'SWB_PEER_NOT_IN_ROOM' })
  onlyR2.send({ type: 'offer', id: 'via-r1', room: 'r1', to: onlyR1.peerId, sdp: 'v=0' })
  t.match(await onlyR2.errorFor('via-r1'), { code: 'SWB_NOT_IN_ROOM' })
  onlyR2.send({ type: 'message', id: 'bcast-r1', room: 'r1', data: 'hi' })
  t.match(await onlyR2.errorFor('bcast-r1'), { code: 'SWB_NOT_IN_ROOM' })

  // A broadcast in r2 reaches the hub, never onlyR1.
  onlyR2.send({ type: 'message', room: 'r2', data: 'r2 only' })
  t.match(await hub.next('message'), { room: 'r2', from: onlyR2.peerId })
  await onlyR1.sync()
  t.same(onlyR1.ofType('offer', 'message'), [])

  // The hub leaving r1 is not seen in r2.
  hub.send({ type: 'leave', room: 'r1' })
  t.match(await onlyR1.next('peer-left'), { room: 'r1', peerId: hub.peerId })
  await onlyR2.sync()
  t.same(onlyR2.ofType('peer-left'), [])
})

t.test('peer ids are unguessable and distinct per connection, even for the same user', async (t) => {
  const h = await signalingServer(t)
  const peers: WsPeer[] = []
  for (let i = 0; i < 3; i++) peers.push(await h.connect('same-user'))
  const ids = new Set(peers.map((p) => p.peerId))
  t.equal(ids.size, 3)
  for (const id of ids) t.match(id, /^[A-Za-z0-9_-]{16,}$/)
})

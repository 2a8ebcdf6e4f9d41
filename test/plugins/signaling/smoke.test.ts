import t from 'tap'
import { build, listen } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer } from '../../helpers/ws-peer.js'

t.test('two peers join a room and relay offer/answer/candidate', async (t) => {
  const app = await build(t)
  const base = await listen(app)
  const a = await WsPeer.connect(base, await signTestToken({ sub: 'doctor' }))
  const b = await WsPeer.connect(base, await signTestToken({ sub: 'patient' }))
  t.teardown(() => { a.close(); b.close() })
  t.match(a.welcome, { type: 'welcome', userId: 'doctor', resumed: false, seq: 0 })

  a.send({ type: 'join', room: 'r1' })
  t.match(await a.next('joined'), { room: 'r1', peers: [] })
  b.send({ type: 'join', room: 'r1' })
  const joinedB = await b.next('joined')
  t.match(joinedB, { room: 'r1', peers: [{ peerId: a.welcome.peerId, userId: 'doctor' }] })
  t.match(await a.next('peer-joined'), { room: 'r1', peer: { peerId: b.welcome.peerId, userId: 'patient' } })

  a.send({ type: 'offer', room: 'r1', to: b.welcome.peerId, sdp: 'v=0 offer' })
  t.match(await b.next('offer'), { room: 'r1', from: a.welcome.peerId, sdp: 'v=0 offer' })
  b.send({ type: 'answer', room: 'r1', to: a.welcome.peerId, sdp: 'v=0 answer' })
  t.match(await a.next('answer'), { from: b.welcome.peerId, sdp: 'v=0 answer' })
  b.send({ type: 'candidate', room: 'r1', to: a.welcome.peerId, candidate: null })
  t.match(await a.next('candidate'), { from: b.welcome.peerId, candidate: null })
  a.send({ type: 'ping', id: 'p1' })
  t.match(await a.next('pong'), { ref: 'p1' })
})

import t from 'tap'
import { pair, signalingServer } from '../../helpers/signaling-harness.js'

t.test('bad frames get a typed error (with `ref` when they carry a readable id) and the connection goes on', async (t) => {
  const h = await signalingServer(t)
  const [a, b] = await pair(h, 'r')
  const [x, y] = await pair(h, 'bystanders', ['x', 'y'])
  const to = b.peerId
  const seqBefore = a.lastSeq

  // [frame, expected code, expected ref]
  const cases: Array<[string, string, string | undefined]> = [
    ['{not json', 'SWB_MALFORMED_JSON', undefined],
    ['', 'SWB_MALFORMED_JSON', undefined],
    ['{"type":"offer","id":"trunc"', 'SWB_MALFORMED_JSON', undefined],
    ['[1,2,3]', 'SWB_INVALID_MESSAGE', undefined],
    ['"just a string"', 'SWB_INVALID_MESSAGE', undefined],
    ['null', 'SWB_INVALID_MESSAGE', undefined],
    ['42', 'SWB_INVALID_MESSAGE', undefined],
    ['{}', 'SWB_UNKNOWN_TYPE', undefined],
    [JSON.stringify({ id: 'no-type', room: 'r' }), 'SWB_UNKNOWN_TYPE', 'no-type'],
    [JSON.stringify({ type: 'hack-the-planet', id: 'u1' }), 'SWB_UNKNOWN_TYPE', 'u1'],
    [JSON.stringify({ type: 'OFFER', id: 'u2' }), 'SWB_UNKNOWN_TYPE', 'u2'],
    [JSON.stringify({ type: 7, id: 'u3' }), 'SWB_UNKNOWN_TYPE', 'u3'],
    [JSON.stringify({ type: 'welcome', id: 'u4' }), 'SWB_UNKNOWN_TYPE', 'u4'],
    // Wrong field types.
    [JSON.stringify({ type: 'join', id: 'w1', room: 123 }), 'SWB_INVALID_MESSAGE', 'w1'],
    [JSON.stringify({ type: 'offer', id: 'w2', room: 'r', to, sdp: { sdp: 'v=0' } }), 'SWB_INVALID_MESSAGE', 'w2'],
    [JSON.stringify({ type: 'candidate', id: 'w3', room: 'r', to, candidate: 'candidate:1 1 udp' }), 'SWB_INVALID_MESSAGE', 'w3'],
    [JSON.stringify({ type: 'candidate', id: 'w4', room: 'r', to, candidate: { candidate: 'c', sdpMLineIndex: -1 } }), 'SWB_INVALID_MESSAGE', 'w4'],
    [JSON.stringify({ type: 'candidate', id: 'w5', room: 'r', to, candidate: { candidate: 'c', extra: true } }), 'SWB_INVALID_MESSAGE', 'w5'],
    [JSON.stringify({ type: 'ack', id: 'w6', seq: -1 }), 'SWB_INVALID_MESSAGE', 'w6'],
    [JSON.stringify({ type: 'ack', id: 'w7', seq: 1.5 }), 'SWB_INVALID_MESSAGE', 'w7'],
    [JSON.stringify({ type: 'join', id: 'w8', room: 'has space' }), 'SWB_INVALID_MESSAGE', 'w8'],
    [JSON.stringify({ type: 'join', id: 'w9', room: 'x'.repeat(129) }), 'SWB_INVALID_MESSAGE', 'w9'],
    [JSON.stringify({ type: 'offer', id: 'w10', room: 'r', to: '../../etc', sdp: 'v=0' }), 'SWB_INVALID_MESSAGE', 'w10'],
    [JSON.stringify({ type: 'message', id: 'w11', room: 'r', to: 5, data: 1 }), 'SWB_INVALID_MESSAGE', 'w11'],
    [JSON.stringify({ type: 'join', id: 'w12', room: 'r', meta: 'not an object' }), 'SWB_INVALID_MESSAGE', 'w12'],
    [JSON.stringify({ type: 'join', id: 'w13', room: 'r', meta: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }), 'SWB_INVALID_MESSAGE', 'w13'],
    [JSON.stringify({ type: 'refresh', id: 'w14', token: 42 }), 'SWB_INVALID_MESSAGE', 'w14'],
    [JSON.stringify({ type: 'ping', id: 'w15', extra: 'field' }), 'SWB_INVALID_MESSAGE', 'w15'],
    // Missing fields.
    [JSON.stringify({ type: 'join', id: 'm1' }), 'SWB_INVALID_MESSAGE', 'm1'],
    [JSON.stringify({ type: 'offer', id: 'm2', room: 'r', to }), 'SWB_INVALID_MESSAGE', 'm2'],
    [JSON.stringify({ type: 'offer', id: 'm3', room: 'r', sdp: 'v=0' }), 'SWB_INVALID_MESSAGE', 'm3'],
    [JSON.stringify({ type: 'answer', id: 'm4', room: 'r', to, sdp: '' }), 'SWB_INVALID_MESSAGE', 'm4'],
    [JSON.stringify({ type: 'candidate', id: 'm5', room: 'r', to }), 'SWB_INVALID_MESSAGE', 'm5'],
    [JSON.stringify({ type: 'message', id: 'm6', room: 'r' }), 'SWB_INVALID_MESSAGE', 'm6'],
    [JSON.stringify({ type: 'leave', id: 'm7' }), 'SWB_INVALID_MESSAGE', 'm7'],
    [JSON.stringify({ type: 'refresh', id: 'm8' }), 'SWB_INVALID_MESSAGE', 'm8'],
    // An id that is not a usable correlation id is not echoed.
    [JSON.stringify({ type: 'join', id: 42, room: 'r' }), 'SWB_INVALID_MESSAGE', undefined],
    [JSON.stringify({ type: 'join', id: 'i'.repeat(65), room: 'r' }), 'SWB_INVALID_MESSAGE', undefined]
  ]
  for (const [frame] of cases) a.sendRaw(frame)
  const errors = await a.waitCount('error', cases.length)
  t.equal(errors.length, cases.length, 'one error per bad frame, in order')
  cases.forEach(([frame, code, ref], i) => {
    const error = errors[i]
    t.equal(error?.code, code, `${frame.slice(0, 60)} → ${code}`)
    t.equal(error?.ref, ref, `${frame.slice(0, 60)} → ref ${String(ref)}`)
    t.type(error?.message, 'string')
  })
  t.ok(errors.every((e) => e.seq === seqBefore), 'errors carry the current seq without advancing it')
  t.match(errors.find((e) => e.ref === 'm2'), { message: /sdp/ }, 'the message names the offending field')

  // Binary frames are refused, not parsed.
  a.sendRaw(Buffer.from(JSON.stringify({ type: 'ping', id: 'bin' })), true)
  t.match(await a.waitCount('error', cases.length + 1).then((e) => e.at(-1)), { code: 'SWB_INVALID_MESSAGE', message: /binary/i })

  // Nothing of it reached the peer, and the sender still works.
  await b.sync()
  t.same(b.ofType('offer', 'answer', 'candidate', 'message', 'peer-left'), [])
  a.send({ type: 'offer', room: 'r', to, sdp: 'v=0 after the garbage' })
  t.match(await b.next('offer'), { sdp: 'v=0 after the garbage' })
  x.send({ type: 'message', room: 'bystanders', to: y.peerId, data: 'unaffected' })
  t.match(await y.next('message'), { data: 'unaffected' })
})

t.test('invalid UTF-8 in a text frame closes that socket with 1007; the server keeps serving', async (t) => {
  const h = await signalingServer(t)
  const a = await h.connect('sender')
  a.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false)
  t.equal(await a.waitClosed(), 1007)
  const [x, y] = await pair(h, 'after', ['x', 'y'])
  x.send({ type: 'candidate', room: 'after', to: y.peerId, candidate: null })
  t.match(await y.next('candidate'), { from: x.peerId })
})

t.test('deeply nested data or meta is refused instead of poisoning the room', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3 })
  const [a, b] = await pair(h, 'r')
  // Built as text: the client's own JSON.stringify could not serialize it either.
  const nested = (n: number): string => '['.repeat(n) + ']'.repeat(n)

  a.sendRaw(`{"type":"message","id":"deep-data","room":"r","to":"${b.peerId}","data":${nested(20_000)}}`)
  t.match(await a.errorFor('deep-data'), { code: 'SWB_INVALID_MESSAGE', message: /nest/ })

  const c = await h.connect('intruder')
  c.sendRaw(`{"type":"join","id":"deep-meta","room":"r","meta":{"x":${nested(20_000)}}}`)
  t.match(await c.errorFor('deep-meta'), { code: 'SWB_INVALID_MESSAGE' })
  t.equal((await h.app.registry.members('r')).length, 2, 'the poisoned join did not happen')

  // One level over the limit (32, the envelope included) is refused; at the limit it is relayed as is.
  a.sendRaw(`{"type":"message","id":"just-over","room":"r","to":"${b.peerId}","data":${nested(32)}}`)
  t.match(await a.errorFor('just-over'), { code: 'SWB_INVALID_MESSAGE' })
  // Brackets inside strings are text, not nesting.
  a.send({ type: 'message', room: 'r', to: b.peerId, data: { text: '[[[[{{{{'.repeat(100) + '\\"]]]' } })
  t.match(await b.next('message'), { data: { text: /^\[\[/ } })
  const moderate = JSON.parse(nested(31)) as unknown
  a.send({ type: 'message', room: 'r', to: b.peerId, data: moderate })
  t.same((await b.nextNew('message')).data, moderate)

  // The room still works for newcomers.
  const d = await h.joined('late', 'r')
  t.match(d.ofType('joined')[0], { peers: [{ peerId: a.peerId }, { peerId: b.peerId }] })
})

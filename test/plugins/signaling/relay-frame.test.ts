import t from 'tap'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { parseClientMessage } from '../../../plugins/signaling/parse.js'
import { relayBody, type RelayedMessage } from '../../../plugins/signaling/relay-frame.js'
import { ServerMessage } from '../../../plugins/signaling/messages.js'
import { relayText } from '../../../plugins/registry/types.js'

const FROM = 'AbCdEfGhIjKlMnOp'
const serverMessage = TypeCompiler.Compile(ServerMessage)

/** The frames a recipient gets for `text` (with seq 7, and without seq as the Redis registry asks). */
function relayed (text: string): { stamped: string, bare: string } {
  const parsed = parseClientMessage(text)
  if (!parsed.ok) throw new Error(`not a valid message: ${parsed.error.message}`)
  const body = relayBody(parsed.message as RelayedMessage, text, FROM)
  return { stamped: relayText(body, 7), bare: relayText(body) }
}

const sdp = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n'
const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' }

t.test('the frame is the server envelope, seq first, around the payload as the sender wrote it', async (t) => {
  const offer = `{"type":"offer","id":"o1","room":"r.1~:/x","to":"${FROM}","sdp":${JSON.stringify(sdp)}}`
  const { stamped, bare } = relayed(offer)
  t.equal(stamped, `{"seq":7,"type":"offer","room":"r.1~:/x","from":"${FROM}","sdp":${JSON.stringify(sdp)}}`)
  t.equal(bare, `{"type":"offer","room":"r.1~:/x","from":"${FROM}","sdp":${JSON.stringify(sdp)}}`)

  // Spacing inside the payload is the sender's; the frame is still the server's schema.
  const spaced = `{ "candidate" : { "candidate" : "c", "sdpMid" : null } , "type" : "candidate", "room" : "r", "to" : "${FROM}" }`
  t.equal(relayed(spaced).stamped, `{"seq":7,"type":"candidate","room":"r","from":"${FROM}","candidate":{ "candidate" : "c", "sdpMid" : null }}`)

  for (const text of [
    offer,
    JSON.stringify({ type: 'answer', room: 'r', to: FROM, sdp: 'v=0 é ✓ 😀 "quoted" \\ back' }),
    JSON.stringify({ type: 'candidate', room: 'r', to: FROM, candidate }),
    JSON.stringify({ type: 'candidate', room: 'r', to: FROM, candidate: null }),
    JSON.stringify({ type: 'message', room: 'r', to: FROM, data: { nested: [1, { deeper: 'x' }], text: 'a\nb' } }),
    JSON.stringify({ type: 'message', room: 'r', to: FROM, data: 0 }),
    spaced
  ]) {
    const { stamped, bare } = relayed(text)
    const sent = JSON.parse(text) as Record<string, unknown>
    const got = JSON.parse(stamped) as Record<string, unknown>
    t.ok(serverMessage.Check(got), `valid server message: ${stamped.slice(0, 80)}`)
    t.same(Object.keys(got).slice(0, 4), ['seq', 'type', 'room', 'from'])
    const key = Object.keys(got)[4] as string
    t.strictSame(got, { seq: 7, type: sent.type, room: sent.room, from: FROM, [key]: sent[key] })
    t.strictSame(JSON.parse(bare), { type: sent.type, room: sent.room, from: FROM, [key]: sent[key] })
  }
})

t.test('a payload key written twice or with escapes: the recipient gets the checked value, once', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    [`{"type":"offer","room":"r","to":"${FROM}","sdp":"unchecked","sdp":"v=0 checked"}`, { sdp: 'v=0 checked' }],
    [`{"type":"offer","room":"r","to":"${FROM}","sdp":"unchecked","s\\u0064p":"v=0 checked"}`, { sdp: 'v=0 checked' }],
    [`{"type":"offer","room":"r","room":"r","to":"${FROM}","sdp":"v=0"}`, { sdp: 'v=0' }],
    // Inside the candidate, which is validated member by member: a first-wins parser on the recipient's
    // side would otherwise see an object where the schema says string.
    [`{"type":"candidate","room":"r","to":"${FROM}","candidate":{"sdpMid":{"x":1},"sdpMid":"0"}}`, { candidate: { sdpMid: '0' } }]
  ]
  for (const [text, payload] of cases) {
    const { stamped } = relayed(text)
    t.strictSame(JSON.parse(stamped), { seq: 7, type: JSON.parse(text).type, room: 'r', from: FROM, ...payload }, text)
    t.notMatch(stamped, /unchecked|"x"/, 'the unchecked value is not in the frame')
    t.equal(stamped, JSON.stringify({ seq: 7, type: JSON.parse(text).type, room: 'r', from: FROM, ...payload }), 'serialized from the parsed message')
  }
})

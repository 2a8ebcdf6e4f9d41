import t from 'tap'
import fc from 'fast-check'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { compileMessageCheck } from '../../../plugins/signaling/closed-check.js'
import { CandidateMessage, ClientMessageSchemas, OfferMessage } from '../../../plugins/signaling/messages.js'

const candidate = { type: 'candidate', room: 'r', to: 'p', candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u' } }

t.test('keys the schema does not name are refused, at the top and inside the candidate', async (t) => {
  const check = compileMessageCheck(CandidateMessage)
  t.ok(check.Check(candidate))
  t.ok(check.Check({ ...candidate, id: 'm1' }))
  t.ok(check.Check({ ...candidate, candidate: null }), 'end of candidates')
  t.ok(check.Check({ ...candidate, candidate: {} }), 'an empty RTCIceCandidateInit')
  t.notOk(check.Check({ ...candidate, extra: 1 }), 'an unknown key')
  t.notOk(check.Check({ ...candidate, candidate: { ...candidate.candidate, address: '10.0.0.1' } }), 'an unknown key in the candidate')
  t.notOk(check.Check(JSON.parse('{"type":"candidate","room":"r","to":"p","candidate":null,"__proto__":{}}')), '__proto__ as JSON.parse makes it: an own key')
  t.notOk(check.Check(JSON.parse('{"type":"candidate","room":"r","to":"p","candidate":{"__proto__":1}}')), 'the same inside the candidate')
  t.notOk(check.Check({ ...candidate, candidate: 'x' }), 'the other checks still apply')
  const offer = compileMessageCheck(OfferMessage)
  t.notOk(offer.Check({ type: 'offer', room: 'r', to: 'p', sdp: 'v=0', candidate: null }), 'another message type\'s key')
})

t.test('errors are those of the schema as declared', async (t) => {
  const check = compileMessageCheck(CandidateMessage)
  const value = { ...candidate, candidate: { ...candidate.candidate, address: 'x' } }
  t.same([...check.Errors(value)].map((e) => e.path), [...TypeCompiler.Compile(CandidateMessage).Errors(value)].map((e) => e.path))
  t.ok([...check.Errors(value)].length > 0)
})

t.test('what it leaves to TypeBox: records, objects within objects, unions of objects', async (t) => {
  const Inner = Type.Object({ a: Type.String() }, { additionalProperties: false })
  const schema = Type.Object({
    type: Type.Literal('x'),
    deep: Type.Optional(Type.Object({ inner: Inner }, { additionalProperties: false })),
    either: Type.Optional(Type.Union([Inner, Type.Object({ b: Type.Number() }, { additionalProperties: false })])),
    meta: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z]+$' }), Type.Unknown(), { additionalProperties: false }))
  }, { additionalProperties: false })
  const check = compileMessageCheck(schema)
  t.ok(check.Check({ type: 'x', deep: { inner: { a: 'y' } }, either: { b: 1 }, meta: { ok: 1 } }))
  t.notOk(check.Check({ type: 'x', deep: { inner: { a: 'y', z: 1 } } }), 'an unknown key two levels down')
  t.notOk(check.Check({ type: 'x', either: { a: 'y', b: 1 } }), 'a key of the other object of the union')
  t.notOk(check.Check({ type: 'x', meta: { NOT: 1 } }), 'a record key against its pattern')
})

/** JSON values shaped like client messages: the schemas' own keys and values, wrong ones, and strangers. */
const messageLike = (() => {
  const keys = ['type', 'id', 'room', 'to', 'sdp', 'candidate', 'data', 'meta', 'seq', 'token', 'candidateType', 'rttMs',
    'sdpMid', 'sdpMLineIndex', 'usernameFragment', 'extra', '__proto__', 'constructor', '0']
  const scalar = fc.oneof(
    fc.constantFrom(...ClientMessageSchemas.map((s) => s.properties.type.const)),
    fc.constantFrom('r', 'room/1', 'p-1', 'v=0', 'a b', '', 'host', 'srflx', 'relay'),
    fc.integer({ min: -2, max: 2000 }), fc.double(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 8 })
  )
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
      scalar,
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...keys), tie('value'), { maxKeys: 5 }))
  }))
  // Valid messages, as they are or with one key added, removed or changed.
  const valid = fc.constantFrom<Record<string, unknown>>(
    { type: 'join', room: 'r', meta: { name: 'A' } }, { type: 'leave', room: 'r' }, { type: 'offer', room: 'r', to: 'p', sdp: 'v=0' },
    { type: 'answer', room: 'r', to: 'p', sdp: 'v=0', id: 'm1' }, candidate, { type: 'candidate', room: 'r', to: 'p', candidate: null },
    { type: 'message', room: 'r', data: { any: ['thing'] } }, { type: 'ping' }, { type: 'refresh', token: 't' }, { type: 'ack', seq: 3 },
    { type: 'stats', candidateType: 'relay', rttMs: 20 })
  const edited = fc.tuple(valid, fc.constantFrom(...keys), fc.option(value, { nil: undefined }), fc.boolean(), fc.boolean()).map(([m, key, v, edit, inCandidate]) => {
    if (!edit) return m
    const inside = inCandidate && typeof m.candidate === 'object' && m.candidate !== null
    const target: Record<string, unknown> = { ...(inside ? m.candidate as object : m) }
    if (v === undefined) delete target[key]
    else target[key] = v
    return inside ? { ...m, candidate: target } : target
  })
  // Through JSON text, as the server gets them (JSON.parse makes `__proto__` an own key).
  return fc.oneof(edited, fc.dictionary(fc.constantFrom(...keys), value, { minKeys: 1, maxKeys: 7 }))
    .map((o) => JSON.parse(JSON.stringify(o)) as unknown)
})()

t.test('the same verdict as TypeBox on the declared schema, for every client message type', async (t) => {
  for (const schema of ClientMessageSchemas) {
    const declared = TypeCompiler.Compile(schema)
    const check = compileMessageCheck(schema)
    const type = schema.properties.type.const
    let accepted = 0
    fc.assert(fc.property(messageLike, (value) => {
      const verdict = declared.Check(value)
      if (verdict) accepted++
      return check.Check(value) === verdict
    }), { numRuns: 3000 })
    // Not vacuous: some of them are messages of this type, valid or nearly.
    t.ok(accepted > 0, `${type}: agrees on 3,000 values, ${accepted} of them accepted`)
  }
})

t.test('checking a candidate allocates nothing (TypeBox\'s own check allocated about 160 bytes)', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const check = compileMessageCheck(CandidateMessage)
  const value = JSON.parse(JSON.stringify(candidate)) as unknown
  const calls = 2000
  const perCall = (f: () => unknown): number => {
    for (let i = 0; i < 20_000; i++) f() // optimized before measuring
    let least = Infinity
    for (let round = 0; round < 5; round++) {
      gc()
      const before = process.memoryUsage().heapUsed
      for (let i = 0; i < calls; i++) f()
      const bytes = (process.memoryUsage().heapUsed - before) / calls
      if (bytes >= 0) least = Math.min(least, bytes) // a collection in between would make it negative
    }
    return least
  }
  // What TypeBox's own check allocates per call: an array of the keys, kept where the optimizer cannot drop it.
  let kept: string[] = []
  t.ok(perCall(() => { kept = Object.getOwnPropertyNames(value) }) >= 32, `the measurement sees an array of ${kept.length} keys`)
  t.ok(perCall(() => check.Check(value)) < 16, 'and nothing here')
})

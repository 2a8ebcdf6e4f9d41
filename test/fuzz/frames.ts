import fc from 'fast-check'
import { MAX_NESTING_DEPTH } from '../../plugins/signaling/parse.js'

/**
 * What the fuzzer sends, as fast-check arbitraries. A generated frame is pure data (a template) that
 * names rooms, peers and tokens by index: the world resolves them at send time, because peer ids are
 * only known once the instance has assigned them. The same seed therefore generates the same frames.
 */

/**
 * A room or peer: an index into the world's (any room, any peer, roommates or not), one of the sending
 * actor's own rooms (`home`) or of the peers in the room the frame names (`mate`), so that relays
 * often reach someone; or a literal the server has never seen.
 */
export type Ref = { ref: number } | { home: number } | { mate: number } | { literal: string }
export type TokenKind = 'own' | 'other-user' | 'expired' | 'garbage' | 'wrong-secret'

/** A client message with its rooms, peers and token still symbolic. */
export interface Spec {
  type: string
  id?: string
  room?: Ref
  to?: Ref
  sdp?: string
  candidate?: Record<string, unknown> | null
  data?: unknown
  meta?: Record<string, unknown>
  token?: TokenKind
  seq?: number
  stats?: Record<string, unknown>
}

export type Mutation =
  | { op: 'drop', field: number }
  | { op: 'add', key: string, value: unknown }
  | { op: 'set', field: number, value: unknown }
  | { op: 'retype', type: string }
  | { op: 'truncate', at: number }
  | { op: 'insert', at: number, text: string }
  | { op: 'replace', at: number, text: string }

/** Where a hostile shape is planted in an otherwise valid message. */
export type Site = 'data' | 'meta' | 'extra' | 'sdp' | 'candidate'

export type Template =
  | { k: 'valid', spec: Spec }
  | { k: 'mutated', spec: Spec, mutations: Mutation[] }
  | { k: 'raw', text: string }
  | { k: 'deep', depth: number, open: '[' | '{', site: Site, spec: Spec }
  | { k: 'proto', key: '__proto__' | 'constructor' | 'prototype', site: 'top' | 'data' | 'meta' | 'candidate' | 'inner', spec: Spec }
  /** A relay padded to `limit` (max or twice max) + `offset` bytes, with `char` as padding (multi-byte counts). */
  | { k: 'size', limit: 'max' | 'twice' | 'huge', offset: number, char: string, spec: Spec }
  | { k: 'binary', bytes: Uint8Array | null, spec: Spec }
  | { k: 'bad-utf8', prefix: boolean, bytes: readonly number[] }
  | { k: 'flood', count: number, spec: Spec }
  /** Join and leave the same room `times` times, and join it once more when `stay`. */
  | { k: 'churn', room: Ref, times: number, stay: boolean }

/** One template for one actor. */
export interface Action { actor: number, template: Template }

export interface WorldShape {
  actors: number
  /** Rooms and peers the refs index (anything, including rooms the actor may not join and peers in other rooms). */
  rooms: number
  peers: number
  /** WS_MESSAGE_BURST of the instance: floods are sized around it. */
  burst: number
}

const id = fc.option(fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ maxLength: 80, unit: 'binary' })
), { nil: undefined, freq: 3 })

/** Room names: mostly the world's, some valid names nobody joined, some that break the pattern. */
function roomRef (w: WorldShape): fc.Arbitrary<Ref> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.nat(15).map((home) => ({ home })) },
    { weight: 6, arbitrary: fc.nat(w.rooms - 1).map((ref) => ({ ref })) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', 'fz-p/../x', 'fz-p/', '*', 'fz-0/x').map((literal) => ({ literal })) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~:/-]{1,130}$/).map((literal) => ({ literal })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 140, unit: 'binary' }).map((literal) => ({ literal })) }
  )
}

/** Peers: mostly the world's (roommates or not), some ids nobody has, some that break the pattern. */
function peerRef (w: WorldShape): fc.Arbitrary<Ref> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.nat(15).map((mate) => ({ mate })) },
    { weight: 6, arbitrary: fc.nat(w.peers - 1).map((ref) => ({ ref })) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'prototype', 'AAAAAAAAAAAAAAAA').map((literal) => ({ literal })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 70, unit: 'binary' }).map((literal) => ({ literal })) }
  )
}

const json = fc.jsonValue({ maxDepth: 3 })
const smallText = fc.string({ maxLength: 40 })
const sdp = fc.oneof(
  fc.constant('v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'),
  fc.string({ minLength: 1, maxLength: 300, unit: 'binary' })
)
const meta = fc.dictionary(fc.string({ minLength: 1, maxLength: 70 }), json, { maxKeys: 36 })
const candidate = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 5,
    arbitrary: fc.record({
      candidate: fc.string({ maxLength: 200 }).map((s) => `candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx ${s}`),
      sdpMid: fc.option(fc.string({ maxLength: 66 }), { nil: null }),
      sdpMLineIndex: fc.option(fc.integer({ min: -2, max: 1030 }), { nil: null }),
      usernameFragment: fc.option(fc.string({ maxLength: 20 }), { nil: null })
    }, { requiredKeys: [] })
  }
)
const stats = fc.record({
  candidateType: fc.constantFrom('host', 'srflx', 'prflx', 'relay', 'unknown', 'bogus'),
  rttMs: fc.double({ min: -1, max: 70000, noNaN: true }),
  jitterMs: fc.double({ min: 0, max: 60000, noNaN: true }),
  packetLoss: fc.double({ min: 0, max: 1.1, noNaN: true }),
  bitrateBps: fc.double({ min: 0, max: 2e10, noNaN: true })
}, { requiredKeys: ['candidateType'] })

/** One well-formed message of every client type (its room, peer or token may still be refused). */
export function validSpec (w: WorldShape): fc.Arbitrary<Spec> {
  const room = roomRef(w)
  const to = peerRef(w)
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: fc.constant('join'), id, room, meta: fc.option(meta, { nil: undefined, freq: 2 }) }, { requiredKeys: ['type', 'room'] }) },
    { weight: 3, arbitrary: fc.record({ type: fc.constant('leave'), id, room }, { requiredKeys: ['type', 'room'] }) },
    { weight: 5, arbitrary: fc.record({ type: fc.constantFrom('offer', 'answer'), id, room, to, sdp }, { requiredKeys: ['type', 'room', 'to', 'sdp'] }) },
    { weight: 5, arbitrary: fc.record({ type: fc.constant('candidate'), id, room, to, candidate }, { requiredKeys: ['type', 'room', 'to', 'candidate'] }) },
    { weight: 6, arbitrary: fc.record({ type: fc.constant('message'), id, room, to, data: json }, { requiredKeys: ['type', 'room', 'data'] }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('ping'), id }, { requiredKeys: ['type'] }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('refresh'), id, token: fc.constantFrom<TokenKind>('own', 'other-user', 'expired', 'garbage', 'wrong-secret') }, { requiredKeys: ['type', 'token'] }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('ack'), id, seq: fc.oneof(fc.nat(64), fc.constantFrom(2 ** 53 - 1, 2 ** 31, -1, 0.5)) }, { requiredKeys: ['type', 'seq'] }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('stats'), id, stats }, { requiredKeys: ['type', 'stats'] }) }
  )
}

/** Relays (the messages that reach other peers): what size, depth and pollution attempts ride on. */
function relaySpec (w: WorldShape): fc.Arbitrary<Spec> {
  return fc.record({
    type: fc.constantFrom('offer', 'message', 'candidate', 'join'),
    room: roomRef(w),
    to: fc.option(peerRef(w), { nil: undefined, freq: 4 })
  }, { requiredKeys: ['type', 'room'] }).map((s) => s.type === 'offer' && s.to === undefined ? { ...s, type: 'message' } : s)
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), field: fc.nat(8) }),
  fc.record({ op: fc.constant('add' as const), key: fc.oneof(smallText, fc.constantFrom('from', 'seq', '__proto__', 'constructor')), value: json }),
  fc.record({ op: fc.constant('set' as const), field: fc.nat(8), value: fc.oneof(json, fc.constantFrom(1e308, -0, '', [], {})) }),
  fc.record({ op: fc.constant('retype' as const), type: fc.oneof(fc.constantFrom('join', 'leave', 'offer', 'answer', 'candidate', 'message', 'ping', 'refresh', 'ack', 'stats', 'welcome', 'error', 'OFFER', 'pong'), smallText) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom('"', '{', '}', ',', '\\', '\u0000', ':', ']'), fc.string({ maxLength: 4, unit: 'binary' })) }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 2, unit: 'binary' }) })
)

/** Text that is not a message at all, or a message in a shape JSON.parse accepts but a schema should not. */
const raw: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '', ' ', '\n', 'null', 'true', '0', '-0', '1e309', '"x"', '[]', '{}', '[{"type":"ping"}]', '{"type":null}',
    '{"type":{"$ne":1}}', '{"type":["ping"]}', '{"type":"ping","type":"join","room":"fz-0"}', '\uFEFF{"type":"ping"}',
    '{"type":"ping"}x', '{"type":"ping"}{"type":"ping"}', "{'type':'ping'}", '{"type":"ping",}', '{"type":"ping" /* c */}',
    '{"type":"\\u0070ing","id":"escaped"}', '{"type":"ping","id":"\\ud800"}', '{"type":"ping","id":"\\u0000"}', 'NaN',
    '{"type":"ack","seq":1e400}', '{"type":"ack","seq":-0}', '{"type":"ack","seq":123456789012345678901234567890}',
    '{"type":"message","room":"fz-0","data":1e400}', '{"type":"join","room":"fz-0","meta":{"":1}}',
    `{"type":"${'t'.repeat(5000)}"}`, `{"id":"${'i'.repeat(65)}","type":"nope"}`, '{"type":"ping","id":""}'
  ),
  fc.string({ maxLength: 200, unit: 'binary' }),
  fc.json({ maxDepth: 4 }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ type: 'message', room: 'fz-0', data: v, extra: v }))
)

/** Byte sequences a UTF-8 decoder must refuse: lone bytes, overlong forms, surrogates, past U+10FFFF, truncated. */
const badUtf8 = fc.constantFrom([0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80])

/** Weights: about half the frames valid or mutated, a fifth floods, the hostile kinds a few percent each. */
export function templateArb (w: WorldShape): fc.Arbitrary<Template> {
  const spec = validSpec(w)
  const relay = relaySpec(w)
  return fc.oneof(
    { weight: 160, arbitrary: spec.map((s) => ({ k: 'valid' as const, spec: s })) },
    { weight: 100, arbitrary: fc.record({ k: fc.constant('mutated' as const), spec, mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) },
    { weight: 40, arbitrary: raw.map((text) => ({ k: 'raw' as const, text })) },
    {
      weight: 12,
      arbitrary: fc.record({
        k: fc.constant('deep' as const),
        depth: fc.constantFrom(MAX_NESTING_DEPTH - 2, MAX_NESTING_DEPTH - 1, MAX_NESTING_DEPTH, MAX_NESTING_DEPTH + 1, 100, 5000, 200_000),
        open: fc.constantFrom('[' as const, '{' as const),
        site: fc.constantFrom<Site>('data', 'meta', 'extra', 'sdp', 'candidate'),
        spec: relay
      })
    },
    {
      weight: 16,
      arbitrary: fc.record({
        k: fc.constant('proto' as const),
        key: fc.constantFrom('__proto__' as const, 'constructor' as const, 'prototype' as const),
        site: fc.constantFrom('top' as const, 'data' as const, 'meta' as const, 'candidate' as const, 'inner' as const),
        spec: relay
      })
    },
    {
      weight: 12,
      arbitrary: fc.record({
        k: fc.constant('size' as const),
        limit: fc.oneof({ weight: 8, arbitrary: fc.constant('max' as const) }, { weight: 3, arbitrary: fc.constant('twice' as const) }, { weight: 1, arbitrary: fc.constant('huge' as const) }),
        offset: fc.integer({ min: -2, max: 2 }),
        char: fc.constantFrom('a', 'é', '€', '😀'),
        spec: relay.filter((s) => s.type !== 'join')
      })
    },
    { weight: 12, arbitrary: fc.record({ k: fc.constant('binary' as const), bytes: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }), spec }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('bad-utf8' as const), prefix: fc.boolean(), bytes: badUtf8 }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('flood' as const),
        count: fc.integer({ min: Math.floor(w.burst / 2), max: 3 * w.burst + 10 }),
        spec: fc.oneof(fc.constant<Spec>({ type: 'ping' }), fc.constant<Spec>({ type: 'bogus' }), relay.filter((s) => s.type !== 'join'))
      })
    },
    { weight: 16, arbitrary: fc.record({ k: fc.constant('churn' as const), room: roomRef(w), times: fc.integer({ min: 1, max: 6 }), stay: fc.boolean() }) }
  )
}

export function batchArb (w: WorldShape, size: number): fc.Arbitrary<Action[]> {
  return fc.array(fc.record({ actor: fc.nat(w.actors - 1), template: templateArb(w) }), { minLength: size, maxLength: size })
}

// ---- rendering: from a template to the bytes on the wire -----------------------------------------

/** What a template needs from the world at send time. */
export interface Resolver {
  room (ref: Ref): string
  /** `room`: the room the frame names, for `mate` refs. */
  peer (ref: Ref, room: string | undefined): string
  token (kind: TokenKind): string
  /** A unique marker for a relay the actor is about to send: where it may legitimately arrive is checked by it. */
  mark (type: string, room: string, to: string | undefined): string
  readonly maxBytes: number
}

export interface Frame {
  data: string | Buffer
  binary: boolean
  /** The template kind, for the summary. */
  kind: Template['k']
  /** A close the server may answer this frame with (1009 too big, 1007 invalid UTF-8, 4029 flood). */
  mayClose?: number
  /** The server certainly closes the socket on this frame (and reads nothing after it). */
  closes?: boolean
}

const RELAYED = new Set(['offer', 'answer', 'candidate', 'message'])
/** Replaced in the serialized text by a key JSON.stringify would never write as an own key of a literal. */
const KEY_PLACEHOLDER = '\u0001fz-key'
const VALUE_PLACEHOLDER = '\u0001fz-value'
const POLLUTION = '{"fzPolluted":1,"prototype":{"fzPollutedProto":1},"toString":"fz","__proto__":{"fzPollutedInner":1}}'

/** The message object of a spec; relays carry a fresh marker in their sdp, candidate or data. */
export function render (spec: Spec, r: Resolver): Record<string, unknown> {
  const o: Record<string, unknown> = { type: spec.type }
  if (spec.id !== undefined) o.id = spec.id
  if (spec.room !== undefined) o.room = r.room(spec.room)
  if (spec.to !== undefined) o.to = r.peer(spec.to, o.room as string | undefined)
  const marker = RELAYED.has(spec.type) && typeof o.room === 'string'
    ? r.mark(spec.type, o.room, o.to as string | undefined)
    : ''
  if (spec.sdp !== undefined || spec.type === 'offer' || spec.type === 'answer') o.sdp = marker + (spec.sdp ?? '')
  if (spec.candidate !== undefined || spec.type === 'candidate') {
    o.candidate = spec.candidate === null ? null : { ...spec.candidate, candidate: marker + String(spec.candidate?.candidate ?? '') }
  }
  if (spec.data !== undefined || spec.type === 'message') o.data = { fz: marker, v: spec.data ?? null }
  if (spec.meta !== undefined) o.meta = spec.meta
  if (spec.token !== undefined) o.token = r.token(spec.token)
  if (spec.seq !== undefined) o.seq = spec.seq
  if (spec.stats !== undefined) Object.assign(o, spec.stats)
  return o
}

/** Sets an own, enumerable property even for `__proto__` (plain assignment would change the prototype). */
function own (o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true })
}

function mutate (o: Record<string, unknown>, mutations: Mutation[]): string {
  for (const m of mutations) {
    const keys = Object.keys(o)
    if (m.op === 'drop' && keys.length > 0) delete o[keys[m.field % keys.length] as string]
    else if (m.op === 'add') own(o, m.key, m.value)
    else if (m.op === 'set' && keys.length > 0) own(o, keys[m.field % keys.length] as string, m.value)
    else if (m.op === 'retype') o.type = m.type
  }
  let text = JSON.stringify(o)
  for (const m of mutations) {
    const at = text.length === 0 ? 0 : ('at' in m ? m.at % text.length : 0)
    if (m.op === 'truncate') text = text.slice(0, at)
    else if (m.op === 'insert') text = text.slice(0, at) + m.text + text.slice(at)
    else if (m.op === 'replace') text = text.slice(0, at) + m.text + text.slice(at + m.text.length)
  }
  return text
}

/** Serializes `o` with the value placeholder replaced by raw JSON text and the key placeholder by `key`. */
function splice (o: Record<string, unknown>, value: string, key = ''): string {
  return JSON.stringify(o)
    .replace(JSON.stringify(VALUE_PLACEHOLDER), () => value)
    .replaceAll(JSON.stringify(KEY_PLACEHOLDER), () => JSON.stringify(key))
}

function deep (t: Extract<Template, { k: 'deep' }>, r: Resolver): string {
  const o = render(t.spec, r)
  const marker = JSON.stringify(String((o.data as { fz?: string } | undefined)?.fz ?? 'deep'))
  const nested = t.open === '['
    ? '['.repeat(t.depth) + marker + ']'.repeat(t.depth)
    : '{"a":'.repeat(t.depth) + marker + '}'.repeat(t.depth)
  if (t.site === 'data') o.data = VALUE_PLACEHOLDER
  else if (t.site === 'meta') o.meta = { name: VALUE_PLACEHOLDER }
  else if (t.site === 'extra') o.extra = VALUE_PLACEHOLDER
  else if (t.site === 'sdp') o.sdp = VALUE_PLACEHOLDER
  else o.candidate = { candidate: VALUE_PLACEHOLDER }
  return splice(o, nested)
}

function proto (t: Extract<Template, { k: 'proto' }>, r: Resolver): string {
  const o = render(t.spec, r)
  const fz = (o.data as { fz?: string } | undefined)?.fz ?? ''
  if (t.site === 'top') o[KEY_PLACEHOLDER] = VALUE_PLACEHOLDER
  else if (t.site === 'data') o.data = { fz, [KEY_PLACEHOLDER]: VALUE_PLACEHOLDER }
  else if (t.site === 'meta') o.meta = { [KEY_PLACEHOLDER]: VALUE_PLACEHOLDER, name: 'x' }
  else if (t.site === 'candidate') o.candidate = { candidate: fz, [KEY_PLACEHOLDER]: VALUE_PLACEHOLDER }
  else o.data = { fz, v: [{ [KEY_PLACEHOLDER]: VALUE_PLACEHOLDER }] }
  return splice(o, POLLUTION, t.key)
}

function sized (t: Extract<Template, { k: 'size' }>, r: Resolver): Frame {
  const target = t.limit === 'max' ? r.maxBytes + t.offset : t.limit === 'twice' ? 2 * r.maxBytes + t.offset : 16 * r.maxBytes
  const o = render(t.spec, r)
  const padAt = o.type === 'offer' ? 'sdp' : o.type === 'candidate' ? 'candidate' : 'data'
  if (padAt === 'sdp') o.sdp = `${String(o.sdp)}${VALUE_PLACEHOLDER}`
  else if (padAt === 'candidate') o.candidate = { candidate: VALUE_PLACEHOLDER }
  else o.data = { fz: (o.data as { fz?: string } | undefined)?.fz ?? '', v: VALUE_PLACEHOLDER }
  // The placeholder's serialized form is what the padding replaces, byte for byte.
  const base = JSON.stringify(o)
  const placeholder = JSON.stringify(VALUE_PLACEHOLDER).slice(1, -1)
  const padBytes = Math.max(0, target - (Buffer.byteLength(base) - Buffer.byteLength(placeholder)))
  const width = Buffer.byteLength(t.char)
  const pad = t.char.repeat(Math.floor(padBytes / width)) + 'a'.repeat(padBytes % width)
  const data = base.replace(placeholder, () => pad)
  return { data, binary: false, kind: 'size' }
}

/** The frames of one template, in the order they are sent. */
export function frames (t: Template, r: Resolver): Frame[] {
  const out = unchecked(t, r)
  // Whatever its kind, a frame over twice the limit is refused by ws itself (maxPayload), with 1009.
  for (const f of out) {
    if (f.mayClose === undefined && Buffer.byteLength(f.data) > 2 * r.maxBytes) f.mayClose = 1009
    if (f.mayClose === 1009 || f.mayClose === 1007) f.closes = true
  }
  return out
}

function unchecked (t: Template, r: Resolver): Frame[] {
  switch (t.k) {
    case 'valid': return [{ data: JSON.stringify(render(t.spec, r)), binary: false, kind: t.k }]
    case 'mutated': return [{ data: mutate(render(t.spec, r), t.mutations), binary: false, kind: t.k }]
    case 'raw': return [{ data: t.text, binary: false, kind: t.k }]
    case 'deep': return [{ data: deep(t, r), binary: false, kind: t.k }]
    case 'proto': return [{ data: proto(t, r), binary: false, kind: t.k }]
    case 'size': return [sized(t, r)]
    case 'binary': return [{ data: t.bytes === null ? Buffer.from(JSON.stringify(render(t.spec, r))) : Buffer.from(t.bytes), binary: true, kind: t.k }]
    case 'bad-utf8': {
      const bad = Buffer.from(t.bytes)
      const data = t.prefix ? Buffer.concat([Buffer.from('{"type":"ping","id":"'), bad, Buffer.from('"}')]) : bad
      return [{ data, binary: false, kind: t.k, mayClose: 1007 }]
    }
    case 'flood': return Array.from({ length: t.count }, () => ({ data: JSON.stringify(render(t.spec, r)), binary: false, kind: t.k, mayClose: 4029 }))
    case 'churn': {
      const room = r.room(t.room)
      return Array.from({ length: 2 * t.times + (t.stay ? 1 : 0) }, (_, i) => ({ data: JSON.stringify({ type: i % 2 === 0 ? 'join' : 'leave', room }), binary: false, kind: t.k }))
    }
  }
}

import t from 'tap'
import fc from 'fast-check'
import { ReplayBuffer, type ReplayLimits } from '../../../plugins/registry/replay-buffer.js'

/** The buffer's rules written the plain way: an array of messages, the oldest dropped first. */
class Model {
  messages: Array<{ seq: number, json: string }> = []
  bytes = (): number => this.messages.reduce((n, m) => n + Buffer.byteLength(m.json), 0)
  push (seq: number, json: string, limits: ReplayLimits): number {
    this.messages.push({ seq, json })
    let dropped = 0
    while (this.messages.length > limits.messages || this.bytes() > limits.bytes) dropped = (this.messages.shift() as { seq: number }).seq
    return dropped
  }

  ackThrough (seq: number): number {
    let dropped = 0
    while (this.messages.length > 0 && (this.messages[0] as { seq: number }).seq <= seq) dropped = (this.messages.shift() as { seq: number }).seq
    return dropped
  }
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8')
const texts = (messages: Array<{ seq: number, json: Buffer }>): Array<{ seq: number, json: string }> => messages.map(({ seq, json }) => ({ seq, json: json.toString('utf8') }))

t.test('keeps the messages since an ack, oldest first, as they were, non-ASCII included', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 10, bytes: 1000 }
  const kept = ['{"a":"é"}', '{"b":"😀 ✓"}', '{"c":"plain"}']
  kept.forEach((json, i) => t.equal(buffer.push(i + 1, utf8(json), limits), 0))
  t.strictSame(texts(buffer.since(0)), kept.map((json, i) => ({ seq: i + 1, json })))
  t.strictSame(texts(buffer.since(2)), [{ seq: 3, json: kept[2] }])
  t.equal(buffer.bytes, kept.reduce((n, s) => n + Buffer.byteLength(s), 0), 'counted in UTF-8 bytes')
  t.equal(buffer.ackThrough(2), 2)
  t.equal(buffer.size, 1)
  t.equal(buffer.ackThrough(3), 3)
  t.equal(buffer.size, 0)
  t.equal(buffer.bytes, 0)
  t.strictSame(buffer.since(0), [])
})

t.test('the byte limit counts UTF-8 bytes: four 3-byte characters fill a 12-byte buffer', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 100, bytes: 12 }
  t.equal(buffer.push(1, utf8('✓✓✓✓'), limits), 0)
  t.equal(buffer.push(2, utf8('a'), limits), 1, 'one byte more drops the first')
  t.equal(buffer.push(3, utf8('✓✓✓✓✓'), limits), 3, 'a message over the limit alone is not kept, and all before it went')
  t.equal(buffer.size, 0)
  t.equal(buffer.push(4, utf8('b'), limits), 0, 'the next one starts the buffer again')
  t.strictSame(texts(buffer.since(0)), [{ seq: 4, json: 'b' }])
})

t.test('a seq that does not follow the last one is a bug, refused before anything changes', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 10, bytes: 1000 }
  buffer.push(7, utf8('x'), limits)
  t.throws(() => buffer.push(9, utf8('y'), limits), /seq 9 does not follow 7/)
  t.throws(() => buffer.push(7, utf8('y'), limits), /seq 7 does not follow 7/)
  t.strictSame(texts(buffer.since(0)), [{ seq: 7, json: 'x' }])
  buffer.ackThrough(7)
  t.equal(buffer.push(20, utf8('z'), limits), 0, 'once empty, any seq starts it')
  t.strictSame(texts(buffer.since(19)), [{ seq: 20, json: 'z' }])
})

t.test('property: the same messages, drops and bytes as the plain model, whatever the limits and the acks', async (t) => {
  const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ minLength: 100, maxLength: 700 }), fc.string({ minLength: 2000, maxLength: 3000 }))
  const op = fc.oneof(
    { weight: 5, arbitrary: text.map((json) => ({ kind: 'push' as const, json: `{"t":${JSON.stringify(json)}}` })) },
    { weight: 1, arbitrary: fc.nat(6).map((behind) => ({ kind: 'ack' as const, behind })) }
  )
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 20, max: 20_000 }), (ops, messages, bytes) => {
    const limits = { messages, bytes }
    const buffer = new ReplayBuffer()
    const model = new Model()
    let seq = 0
    for (const o of ops) {
      if (o.kind === 'push') {
        seq++
        if (buffer.push(seq, utf8(o.json), limits) !== model.push(seq, o.json, limits)) return false
      } else if (buffer.ackThrough(seq - o.behind) !== model.ackThrough(seq - o.behind)) {
        return false
      }
      if (buffer.size !== model.messages.length || buffer.bytes !== model.bytes()) return false
      if (JSON.stringify(texts(buffer.since(0))) !== JSON.stringify(model.messages)) return false
    }
    const lastSeq = Math.max(0, seq - 3)
    return JSON.stringify(texts(buffer.since(lastSeq))) === JSON.stringify(model.messages.filter((m) => m.seq > lastSeq))
  }), { numRuns: 1000 })
  t.end()
})

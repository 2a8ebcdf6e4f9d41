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

t.test('keeps the messages since an ack, oldest first, as they were, non-ASCII included', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 10, bytes: 1000 }
  const texts = ['{"a":"é"}', '{"b":"😀 ✓"}', '{"c":"plain"}']
  texts.forEach((json, i) => t.equal(buffer.push(i + 1, json, Buffer.byteLength(json), limits), 0))
  t.strictSame(buffer.since(0), texts.map((json, i) => ({ seq: i + 1, json })))
  t.strictSame(buffer.since(2), [{ seq: 3, json: texts[2] }])
  t.equal(buffer.bytes, texts.reduce((n, s) => n + Buffer.byteLength(s), 0), 'counted in UTF-8 bytes')
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
  t.equal(buffer.push(1, '✓✓✓✓', 12, limits), 0)
  t.equal(buffer.push(2, 'a', 1, limits), 1, 'one byte more drops the first')
  t.equal(buffer.push(3, '✓✓✓✓✓', 15, limits), 3, 'a message over the limit alone is not kept, and all before it went')
  t.equal(buffer.size, 0)
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
        if (buffer.push(seq, o.json, Buffer.byteLength(o.json), limits) !== model.push(seq, o.json, limits)) return false
      } else if (buffer.ackThrough(seq - o.behind) !== model.ackThrough(seq - o.behind)) {
        return false
      }
      if (buffer.size !== model.messages.length || buffer.bytes !== model.bytes()) return false
      if (JSON.stringify(buffer.since(0)) !== JSON.stringify(model.messages)) return false
    }
    const lastSeq = Math.max(0, seq - 3)
    return JSON.stringify(buffer.since(lastSeq)) === JSON.stringify(model.messages.filter((m) => m.seq > lastSeq))
  }), { numRuns: 1000 })
  t.end()
})

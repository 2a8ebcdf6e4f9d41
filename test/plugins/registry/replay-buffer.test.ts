import t from 'tap'
import fc from 'fast-check'
import { CHUNK_BYTES, FIRST_CHUNK_BYTES, RECORD_HEADER_BYTES, ReplayBuffer, type ReplayLimits } from '../../../plugins/registry/replay-buffer.js'
import { ChunkPool } from '../../../plugins/registry/chunk-pool.js'
import { FRAME_HEADROOM } from '../../../plugins/registry/types.js'

/** The buffered frames (UTF-8 bytes) as text. */
function texts (frames: Array<{ seq: number, json: Buffer }>): Array<{ seq: number, json: string }> {
  return frames.map(({ seq, json }) => ({ seq, json: json.toString('utf8') }))
}

/** The most chunk memory a buffer may hold for what it has buffered. */
function held (buffer: ReplayBuffer): number {
  return 2 * (buffer.bytes + RECORD_HEADER_BYTES * buffer.size) + 2 * CHUNK_BYTES
}

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
  const sent = ['{"a":"é"}', '{"b":"😀 ✓"}', '{"c":"plain"}']
  sent.forEach((json, i) => {
    t.equal(buffer.push(i + 1, json, '', '', limits), 0)
    t.equal(buffer.newest().toString('utf8'), json, 'newest() is the message just buffered')
  })
  t.strictSame(texts(buffer.since(0)), sent.map((json, i) => ({ seq: i + 1, json })))
  t.strictSame(texts(buffer.since(2)), [{ seq: 3, json: sent[2] }])
  t.equal(buffer.bytes, sent.reduce((n, s) => n + Buffer.byteLength(s), 0), 'counted in UTF-8 bytes')
  t.equal(buffer.ackThrough(2), 2)
  t.equal(buffer.size, 1)
  t.equal(buffer.ackThrough(3), 3)
  t.equal(buffer.size, 0)
  t.equal(buffer.bytes, 0)
  t.equal(buffer.chunkBytes, 0, 'an emptied buffer holds no chunk')
  t.strictSame(buffer.since(0), [])
})

t.test('newestFrame() is newest() with FRAME_HEADROOM bytes in front that belong to its record alone', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 100, bytes: 100_000 }
  const sent: string[] = []
  for (let seq = 1; seq <= 40; seq++) {
    const json = `{"seq":${seq},"data":"${'é'.repeat(seq * 7)}"}`
    sent.push(json)
    buffer.push(seq, json, '', '', limits)
    const frame = buffer.newestFrame()
    t.equal(frame.toString('utf8', FRAME_HEADROOM), json, `seq ${seq}: the message after the room`)
    // What a sink does with the room (a WebSocket header) must not touch any other record.
    frame.fill(0xff, 0, FRAME_HEADROOM)
  }
  t.strictSame(texts(buffer.since(0)), sent.map((json, i) => ({ seq: i + 1, json })), 'every record intact')
  t.equal(buffer.ackThrough(40), 40, 'and the records still read back to the last one')
})

t.test('a frame handed out stays as it was: without recycling, chunks are never written over, also after acks and evictions', async (t) => {
  const pool = new ChunkPool(FIRST_CHUNK_BYTES, CHUNK_BYTES, 1024 * 1024)
  const buffer = new ReplayBuffer(pool)
  const limits = { messages: 3, bytes: 100_000 }
  const handedOut: Array<{ view: Buffer, json: string }> = []
  for (let seq = 1; seq <= 200; seq++) {
    const json = `{"seq":${seq},"data":"${String(seq % 10).repeat(seq % 7 === 0 ? 5000 : 300)}"}`
    buffer.push(seq, json, '', '', limits)
    handedOut.push({ view: buffer.newest(), json })
    if (seq % 5 === 0) buffer.ackThrough(seq - 1)
  }
  t.ok(handedOut.every(({ view, json }) => view.toString('utf8') === json), 'every view still reads its own message')
  t.equal(pool.bytes, 0, 'no chunk went back to the pool')
})

t.test('recycling: acknowledged chunks go back to the pool and carry the next messages, of this peer or another', async (t) => {
  const pool = new ChunkPool(FIRST_CHUNK_BYTES, CHUNK_BYTES, 1024 * 1024)
  const limits = { messages: 1000, bytes: 1_000_000 }
  const a = new ReplayBuffer(pool)
  const b = new ReplayBuffer(pool)
  const offer = (seq: number): string => `{"seq":${seq},"sdp":"${String(seq % 10).repeat(3000)}"}`
  const usedByA = new Set<ArrayBufferLike>()
  for (let seq = 1; seq <= 10; seq++) {
    a.push(seq, offer(seq), '', '', limits)
    usedByA.add(a.newest().buffer)
  }
  const chunksOfA = a.chunkBytes
  t.ok(usedByA.size >= 4, `A's ten offers took ${usedByA.size} chunks`)
  t.equal(a.ackThrough(4, true), 4)
  t.ok(pool.bytes > 0 && pool.bytes < chunksOfA, `the chunks emptied by the ack went back (${pool.bytes} bytes), the others stay`)
  t.strictSame(texts(a.since(0)), [5, 6, 7, 8, 9, 10].map((seq) => ({ seq, json: offer(seq) })), 'A still has the unacknowledged ones')
  a.ackThrough(10, true)
  t.equal(a.chunkBytes, 0, 'an emptied buffer holds no chunk')
  t.equal(pool.bytes, chunksOfA, 'every chunk of A is in the pool')

  const usedByB = new Set<ArrayBufferLike>()
  for (let seq = 1; seq <= 10; seq++) {
    b.push(seq, `{"b":${seq},"sdp":"${'b'.repeat(3000)}"}`, '', '', limits)
    usedByB.add(b.newest().buffer)
  }
  t.ok([...usedByB].every((chunk) => usedByA.has(chunk)), 'B wrote its messages into the chunks A gave back')
  t.equal(pool.bytes, 0, 'taken from the pool')
  t.strictSame(texts(b.since(0)).map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'B reads its own messages')
  t.ok(texts(b.since(0)).every((m, i) => m.json === `{"b":${i + 1},"sdp":"${'b'.repeat(3000)}"}`), 'each as written')

  // Not recycled: an ack without the caller's word that nothing is queued, and evictions.
  b.ackThrough(10)
  t.equal(pool.bytes, 0, 'ackThrough(seq) alone gives nothing back')
  const small = { messages: 2, bytes: 1_000_000 }
  for (let seq = 11; seq <= 20; seq++) b.push(seq, offer(seq), '', '', small)
  t.equal(pool.bytes, 0, 'chunks emptied by evictions (frames that may still be queued) are not given back')
  t.strictSame(texts(b.since(0)).map((m) => m.seq), [19, 20])
})

t.test('replayed messages are copies: an ack that recycles their chunks does not change them', async (t) => {
  const pool = new ChunkPool(FIRST_CHUNK_BYTES, CHUNK_BYTES, 1024 * 1024)
  const limits = { messages: 1000, bytes: 1_000_000 }
  const a = new ReplayBuffer(pool)
  const other = new ReplayBuffer(pool)
  const sent = [1, 2, 3, 4, 5].map((seq) => `{"seq":${seq},"sdp":"${String(seq).repeat(3000)}"}`)
  sent.forEach((json, i) => a.push(i + 1, json, '', '', limits))
  const replayed = a.since(0)
  a.ackThrough(5, true)
  for (let seq = 1; seq <= 5; seq++) other.push(seq, `{"x":"${'z'.repeat(3000)}"}`, '', '', limits)
  t.strictSame(texts(replayed), sent.map((json, i) => ({ seq: i + 1, json })), 'the replay still reads what was buffered')
})

t.test('memory held: at most twice the records (frames and headers) plus two chunks, and a frame larger than a chunk gets one of its size', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 1000, bytes: 1_000_000 }
  const candidate = `{"c":"${'x'.repeat(240)}"}`
  for (let seq = 1; seq <= 300; seq++) {
    buffer.push(seq, candidate.slice(0, 6), candidate.slice(6, -1), '}', limits)
    if (seq % 40 === 0) buffer.ackThrough(seq - 20)
    t.ok(buffer.chunkBytes <= held(buffer), `at seq ${seq}: ${buffer.chunkBytes} bytes of chunks for ${buffer.bytes} of frames`)
  }
  const big = `{"d":"${'y'.repeat(3 * CHUNK_BYTES)}"}`
  buffer.push(301, big, '', '', limits)
  t.equal(buffer.newest().toString('utf8'), big)
  t.ok(buffer.chunkBytes <= held(buffer))
  t.equal(buffer.ackThrough(301), 301)
  t.equal(buffer.chunkBytes, 0)
})

t.test('a chunk filled exactly, or with too little room left for another header, and the chunk after it', async (t) => {
  const limits = { messages: 100, bytes: 100_000 }
  for (let left = 0; left <= 2 * RECORD_HEADER_BYTES; left++) {
    const buffer = new ReplayBuffer()
    // The first chunk is FIRST_CHUNK_BYTES: one record that leaves `left` bytes of it.
    const first = `{"f":"${'a'.repeat(FIRST_CHUNK_BYTES - RECORD_HEADER_BYTES - left - 8)}"}`
    const sent = [first, '{"s":2}', `{"t":"${'b'.repeat(700)}"}`]
    sent.forEach((json, i) => buffer.push(i + 1, json, '', '', limits))
    t.strictSame(texts(buffer.since(0)), sent.map((json, i) => ({ seq: i + 1, json })), `${left} bytes left: all three, in order`)
    t.equal(buffer.ackThrough(1), 1, `${left} bytes left: the first acknowledged`)
    t.strictSame(texts(buffer.since(0)), sent.slice(1).map((json, i) => ({ seq: i + 2, json })), `${left} bytes left: the other two`)
    // The second record (7 bytes and its header) fits in what the first left, or starts the next chunk
    // (twice as large) that the third joins: the first chunk goes once no record is left in it.
    const secondInFirst = left >= 7 + RECORD_HEADER_BYTES
    t.equal(buffer.chunkBytes, secondInFirst ? 3 * FIRST_CHUNK_BYTES : 2 * FIRST_CHUNK_BYTES, `${left} bytes left: ${secondInFirst ? 'both chunks stay' : 'the first chunk went with its only record'}`)
  }
})

t.test('the byte limit counts UTF-8 bytes: four 3-byte characters fill a 12-byte buffer', async (t) => {
  const buffer = new ReplayBuffer()
  const limits = { messages: 100, bytes: 12 }
  t.equal(buffer.push(1, '✓', '✓✓', '✓', limits), 0)
  t.equal(buffer.push(2, 'a', '', '', limits), 1, 'one byte more drops the first')
  t.equal(buffer.push(3, '✓✓', '✓✓', '✓', limits), 3, 'a message over the limit alone is not kept, and all before it went')
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
    // A pool shared with another buffer that takes chunks from it and gives them back in between: what
    // one writes into a recycled chunk never shows in the other.
    const pool = new ChunkPool(FIRST_CHUNK_BYTES, CHUNK_BYTES, 64 * 1024)
    const buffer = new ReplayBuffer(pool)
    const neighbour = new ReplayBuffer(pool)
    let neighbourSeq = 0
    const model = new Model()
    let seq = 0
    for (const o of ops) {
      if (o.kind === 'push') {
        seq++
        // Split as relay-frame.ts splits a relayed message: our head, the sender's payload, the closing brace.
        if (buffer.push(seq, o.json.slice(0, 5), o.json.slice(5, -1), o.json.slice(-1), limits) !== model.push(seq, o.json, limits)) return false
        if (buffer.size > 0 && model.messages.at(-1)?.seq === seq && buffer.newest().toString('utf8') !== o.json) return false
      } else if (buffer.ackThrough(seq - o.behind, o.behind % 2 === 0) !== model.ackThrough(seq - o.behind)) {
        return false
      } else {
        for (let i = 0; i < 3; i++) neighbour.push(++neighbourSeq, `{"n":"${'n'.repeat(neighbourSeq % 5 === 0 ? 2500 : 200)}"}`, '', '', { messages: 50, bytes: 1_000_000 })
        if (neighbourSeq % 4 === 0) neighbour.ackThrough(neighbourSeq, true)
      }
      if (buffer.size !== model.messages.length || buffer.bytes !== model.bytes()) return false
      if (JSON.stringify(texts(buffer.since(0))) !== JSON.stringify(model.messages)) return false
      if (buffer.chunkBytes > held(buffer)) return false
    }
    const lastSeq = Math.max(0, seq - 3)
    return JSON.stringify(texts(buffer.since(lastSeq))) === JSON.stringify(model.messages.filter((m) => m.seq > lastSeq))
  }), { numRuns: 1000 })
  t.end()
})

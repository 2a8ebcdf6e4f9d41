import t from 'tap'
import type { Writable } from 'node:stream'
import WebSocket from 'ws'
import { FRAME_HEADROOM } from '../../../../plugins/registry/types.js'
import { textFrameIn } from '../../../../plugins/signaling/text-frame.js'
import { pair, signalingServer } from '../../../helpers/signaling-harness.js'

// text-frame.ts: the in-memory registry's frames go to the TCP socket framed by us, not by ws. In
// memory only, hence this folder: with Redis every frame goes through ws's own send.

/** ws's frame parser (ws exports it; its type declarations do not). */
const { Receiver } = WebSocket as unknown as { Receiver: new (options: { isServer: boolean }) => Writable }

/** Parses `wire` as a client does (ws's own parser): the messages it holds, and whether each is text. */
function parse (wire: Buffer): Array<{ text: string, isBinary: boolean }> {
  const out: Array<{ text: string, isBinary: boolean }> = []
  const receiver = new Receiver({ isServer: false })
  receiver.on('message', (data: Buffer, isBinary: boolean) => out.push({ text: data.toString('utf8'), isBinary }))
  receiver.on('error', (err: Error) => { throw err })
  receiver.write(wire)
  return out
}

/** `text`'s UTF-8 bytes after FRAME_HEADROOM bytes of room, as Sink.pushFrame gets them. */
function withRoom (text: string): Buffer {
  const bytes = Buffer.alloc(FRAME_HEADROOM + Buffer.byteLength(text), 0xee)
  bytes.write(text, FRAME_HEADROOM)
  return bytes
}

t.test('a frame in the room in front of the message is one text frame, with the shortest length that fits', async (t) => {
  // Around the two boundaries of the length field: 125 | 126 (16-bit length) and 65,535 | 65,536.
  for (const length of [0, 1, 124, 125, 126, 127, 3000, 65_534, 65_535]) {
    const text = 'x'.repeat(length)
    const frame = textFrameIn(withRoom(text))
    if (frame === undefined) {
      t.fail(`no frame for ${length} bytes`)
      continue
    }
    // RFC 6455 5.2: FIN + text, no mask, and "the minimal number of bytes MUST be used to encode the length".
    t.equal(frame[0], 0x81, `${length} bytes: FIN and the text opcode`)
    t.equal(frame.length, length + (length < 126 ? 2 : 4), `${length} bytes: a ${length < 126 ? 2 : 4}-byte header`)
    t.strictSame(parse(frame), [{ text, isBinary: false }], `${length} bytes: ws reads back the message as text`)
  }
  t.equal(textFrameIn(withRoom('y'.repeat(65_536))), undefined, '64 KiB and more: no frame (its header does not fit)')

  // Multi-byte UTF-8 counts in bytes, and frames written back to back read back one by one.
  const texts = ['{"data":"é ü 漢字 🎉"}', 'z'.repeat(200), '{"data":"' + 'ñ'.repeat(70) + '"}']
  const wire = Buffer.concat(texts.map((text) => textFrameIn(withRoom(text)) as Buffer))
  t.strictSame(parse(wire), texts.map((text) => ({ text, isBinary: false })))
})

t.test('relayed messages of every frame size reach the recipient whole, as text, in order, also past ws', async (t) => {
  // A larger message limit, so relayed frames of 64 KiB and more (sent through ws instead) come in
  // between; no rate limit in the way of 200 messages at once, and room for 4 MB on their way to a
  // recipient that a busy machine lets read slowly.
  const h = await signalingServer(t, {
    WS_MAX_MESSAGE_BYTES: 96 * 1024,
    WS_MESSAGES_PER_SECOND: 10_000,
    WS_MESSAGE_BURST: 10_000,
    WS_SEND_BUFFER_LIMIT_BYTES: 64 * 1024 * 1024
  })
  const [a, b] = await pair(h, 'sizes')
  await b.sync()
  const binary: number[] = []
  const lengths: number[] = []
  b.socket.on('message', (data: Buffer, isBinary) => {
    lengths.push(data.length)
    if (isBinary) binary.push(data.length)
  })
  // `data` lengths that put the relayed frames on both sides of 125/126 and of 65,535/65,536: the rest
  // of a frame (seq, type, room, the 16-character peer id) is 70 to 80 bytes.
  const sizes = [...range(0, 140), ...range(65_440, 65_500), 70_000, 1]
  for (const size of sizes) a.send({ type: 'message', room: 'sizes', to: b.peerId, data: 'd'.repeat(size) })
  const got = await b.waitCount('message', sizes.length, 30_000)
  t.strictSame(got.map((m) => (m.data as string).length), sizes, 'every message, whole and in order')
  t.strictSame(binary, [], 'all of them text frames')
  const near = (from: number, to: number): boolean => lengths.some((n) => n >= from && n <= to)
  t.ok(near(120, 125) && near(126, 131) && near(65_530, 65_535) && near(65_536, 65_541) && near(70_000, 70_100),
    'frames on both sides of both length boundaries were among them (2-, 4- and 10-byte headers)')
  // Seqs stayed consecutive across the two ways of writing.
  const seqs = got.map((m) => m.seq)
  t.ok(seqs.every((s, i) => i === 0 || s === (seqs[i - 1] as number) + 1), 'consecutive seqs')
})

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}

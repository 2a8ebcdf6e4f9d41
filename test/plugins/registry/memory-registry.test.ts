import t from 'tap'
import { MemoryRegistry } from '../../../plugins/registry/memory-registry.js'
import { FRAME_HEADROOM, stampSeq, type Frame, type Sink } from '../../../plugins/registry/types.js'
import { registryScenarios } from '../../helpers/registry-scenarios.js'

registryScenarios(t, async (limits) => new MemoryRegistry(limits))

t.test('stampSeq puts seq first without re-serializing the body', async (t) => {
  t.equal(stampSeq('{"type":"left","room":"r"}', 7), '{"seq":7,"type":"left","room":"r"}')
  t.equal(stampSeq('{}', 1), '{"seq":1}')
  t.same(JSON.parse(stampSeq(JSON.stringify({ type: 'message', data: { seq: 'not this one' } }), 3)), { seq: 3, type: 'message', data: { seq: 'not this one' } })
})

t.test('the memory registry forgets everything on close', async (t) => {
  const registry = new MemoryRegistry({ bufferMessages: 10, bufferBytes: 10_000 })
  await registry.createSession('p', 'u', 'h')
  await registry.join('r', { peerId: 'p', userId: 'u' }, { capacity: 2, maxRoomsPerPeer: 2 })
  t.same(registry.stats(), { rooms: 1, peers: 1 })
  await registry.close()
  t.same(registry.stats(), { rooms: 0, peers: 0 })
  t.equal(await registry.findSession('h'), undefined)
})

t.test('acknowledged chunks are recycled only while no view of them can still be queued on a socket of the peer', async (t) => {
  const registry = new MemoryRegistry({ bufferMessages: 512, bufferBytes: 1024 * 1024 })
  await registry.createSession('p', 'u', 'h')
  /** A sink that says whether its socket has written everything; the frames it gets are views of chunks. */
  const sink = (flushed: boolean): Sink & { frames: Frame[], isFlushed: boolean } => {
    const s = {
      frames: [] as Frame[],
      isFlushed: flushed,
      push (json: Frame) { s.frames.push(json) },
      pushFrame (bytes: Buffer) { s.frames.push(bytes.subarray(FRAME_HEADROOM)) },
      flushed: () => s.isFlushed
    }
    return s
  }
  let seq = 0
  const deliverSome = async (): Promise<number> => {
    for (let i = 0; i < 10; i++) await registry.deliver('p', `{"type":"message","data":"${'d'.repeat(3000)}"}`)
    return (seq += 10)
  }

  const backedUp = sink(false)
  registry.attach('p', backedUp)
  registry.ack('p', await deliverSome())
  t.equal(registry.pooledChunkBytes, 0, 'frames still queued on the socket: nothing recycled')
  backedUp.isFlushed = true
  registry.ack('p', await deliverSome())
  t.ok(registry.pooledChunkBytes > 0, `written out: the chunks go back to the pool (${registry.pooledChunkBytes} bytes)`)
  // The next ones take them from the pool again.
  await deliverSome()
  t.equal(registry.pooledChunkBytes, 0, 'and are taken again')

  // A sink replaced (a resume) before it wrote everything: its queue may still hold views, for good.
  backedUp.isFlushed = false
  const resumed = sink(true)
  registry.attach('p', resumed)
  registry.ack('p', seq)
  t.equal(registry.pooledChunkBytes, 0, 'after a replaced sink that had not written everything: never recycled')
  registry.ack('p', await deliverSome())
  t.equal(registry.pooledChunkBytes, 0, 'also later, with the new sink written out')

  // Another session: a sink detached unflushed (the connection closed while backed up) taints it the same way.
  await registry.createSession('q', 'u', 'hq')
  const q = sink(false)
  registry.attach('q', q)
  for (let i = 0; i < 10; i++) await registry.deliver('q', `{"type":"message","data":"${'q'.repeat(3000)}"}`)
  registry.detach('q', q)
  registry.attach('q', sink(true))
  registry.ack('q', 10)
  t.equal(registry.pooledChunkBytes, 0, 'after a detach with frames still queued: never recycled')
  // And one whose sink is gone (between two connections) does not recycle either.
  await registry.createSession('r', 'u', 'hr')
  registry.attach('r', sink(true))
  for (let i = 0; i < 10; i++) await registry.deliver('r', `{"type":"message","data":"${'r'.repeat(3000)}"}`)
  const rSink = sink(true)
  registry.attach('r', rSink)
  registry.detach('r', rSink)
  registry.ack('r', 10)
  t.equal(registry.pooledChunkBytes, 0, 'no sink attached: nothing recycled')
})

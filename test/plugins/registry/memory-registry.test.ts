import t from 'tap'
import { MemoryRegistry } from '../../../plugins/registry/memory-registry.js'
import { stampSeq } from '../../../plugins/registry/types.js'
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

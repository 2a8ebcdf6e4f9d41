import t from 'tap'
import { randomId } from '../../../plugins/signaling/random-id.js'

t.test('random ids: base64url of the asked length, all distinct, across many refills of the pool', async (t) => {
  const seen = new Set<string>()
  // 4,000 ids of 32 bytes and 12 bytes: about 60 refills of a 4 KB pool, with ids ending at its edge.
  for (let i = 0; i < 2000; i++) {
    for (const [bytes, length] of [[32, 43], [12, 16]] as const) {
      const id = randomId(bytes)
      if (!/^[A-Za-z0-9_-]+$/.test(id) || id.length !== length) t.fail(`bad id ${id} for ${bytes} bytes`)
      seen.add(id)
    }
  }
  t.equal(seen.size, 4000, 'no id twice')
  // Zeroed bytes handed out again would show as a run of 'A's.
  t.notOk([...seen].some((id) => id.includes('AAAAAAAA')), 'no id made of zeroed pool bytes')
})

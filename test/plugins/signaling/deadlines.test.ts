import t from 'tap'
import { DeadlineQueue, type Scheduled } from '../../../plugins/signaling/deadlines.js'
import { until } from '../../helpers/ws-peer.js'

interface Item extends Scheduled { name: string }
const item = (name: string): Item => ({ name, dueAt: 0, dueIndex: -1 })

t.test('items come due in deadline order, behind one timer; cancelled and moved ones as expected', async (t) => {
  const fired: string[] = []
  const q = new DeadlineQueue<Item>((i) => fired.push(i.name))
  t.teardown(() => q.stop())
  const now = Date.now()
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(item) as [Item, Item, Item, Item, Item]
  q.schedule(c, now + 30)
  q.schedule(a, now + 10)
  q.schedule(e, now + 50)
  q.schedule(b, now + 20)
  q.schedule(d, now + 40)
  q.cancel(b)
  q.schedule(e, now + 5) // moved earlier than everything
  t.equal(q.size, 4)
  t.equal(b.dueIndex, -1, 'a cancelled item is out of the heap')
  await until(() => fired.length === 4, 'four deadlines')
  t.same(fired, ['e', 'a', 'c', 'd'])
  t.equal(q.size, 0)
})

t.test('a due item may schedule itself again (the warning, then the expiry)', async (t) => {
  const fired: string[] = []
  const q = new DeadlineQueue<Item>((i) => {
    fired.push(i.name)
    if (fired.length === 1) q.schedule(i, Date.now() + 5)
  })
  t.teardown(() => q.stop())
  q.schedule(item('x'), Date.now() - 1000) // already past: due at the next tick
  await until(() => fired.length === 2, 'both moments')
  t.same(fired, ['x', 'x'])
})

t.test('a large random workload keeps the heap order (a clock the test controls, nothing waits)', async (t) => {
  let now = 0
  const fired: number[] = []
  const q = new DeadlineQueue<Item & { at: number }>((i) => fired.push(i.at), () => now)
  t.teardown(() => q.stop())
  const items = Array.from({ length: 2000 }, (_, i) => ({ ...item(String(i)), at: Math.floor(Math.random() * 1e6) + 1e9 }))
  for (const i of items) q.schedule(i, i.at)
  for (const i of items.filter((_, k) => k % 3 === 0)) q.cancel(i)
  const kept = items.filter((_, k) => k % 3 !== 0).map((i) => i.at).sort((x, y) => x - y)
  now = 2e9
  ;(q as unknown as { fire: () => void }).fire()
  t.same(fired, kept, 'every remaining item, earliest first')
})

t.test('stop() forgets every item, and cancelling one afterwards is harmless', async (t) => {
  const fired: string[] = []
  const q = new DeadlineQueue<Item>((i) => fired.push(i.name))
  const a = item('a')
  q.schedule(a, Date.now() + 10)
  q.stop()
  t.equal(a.dueIndex, -1)
  q.cancel(a)
  t.equal(q.size, 0)
  const b = item('b')
  q.schedule(b, Date.now())
  await until(() => fired.length === 1, 'the queue works after stop')
  t.same(fired, ['b'])
  q.stop()
})

import t from 'tap'
import { startRedis, requireRedis } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer } from '../helpers/ws-peer.js'
import { WebhookReceiver, newWebhookSecret, type Received } from '../helpers/webhook-receiver.js'

const skip = requireRedis(t)

/** Parallel lanes (one room name per lane and round), and rounds per lane. */
const LANES = 8
const ROUNDS = 6

async function join (peer: WsPeer, room: string): Promise<void> {
  peer.send({ type: 'join', room })
  const answer = await peer.next((m) => (m.type === 'joined' && m.room === room) || m.type === 'error', 5000)
  if (answer.type === 'error') throw new Error(`join refused: ${String(answer.code)}`)
}

async function leave (peer: WsPeer, room: string): Promise<void> {
  peer.send({ type: 'leave', room })
  await peer.next((m) => m.type === 'left' && m.room === room, 5000)
}

/**
 * The events as an integrator handles them: delivery is at least once, so a redelivery (same
 * webhook-id: a holder that lost its lease under load, a move retried after a timeout) is skipped.
 */
function firstDeliveries (events: Received[]): Received[] {
  const seen = new Set<string>()
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined)
}

/**
 * What a receiver must see of one room that started and ended once: room.started first, room.ended
 * last, each peer joined before it left, each event once. Empty when it holds, else what broke.
 */
function broken (events: Received[]): string[] {
  const types = events.map((e) => e.type)
  const problems: string[] = []
  if (types[0] !== 'room.started') problems.push(`first is ${String(types[0])}`)
  if (types.at(-1) !== 'room.ended') problems.push(`last is ${String(types.at(-1))}`)
  if (types.filter((x) => x === 'room.started').length !== 1 || types.filter((x) => x === 'room.ended').length !== 1) problems.push('not one start and one end')
  const peers = new Set(events.map((e) => e.data.peerId as string))
  for (const peerId of peers) {
    const own = events.filter((e) => e.data.peerId === peerId && e.type.startsWith('peer.')).map((e) => e.type)
    if (own.join() !== 'peer.joined,peer.left') problems.push(`${peerId}: ${own.join()}`)
  }
  return problems
}

t.test('two instances changing the same room at the same moment: every room\'s events arrive in the order of its changes', skip, async (t) => {
  const redis = await startRedis(t)
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, WEBHOOK_RETRY_BASE_SECONDS: 0.01 })
  if (a === undefined || b === undefined) throw new Error('two instances')

  const lanes = await Promise.all(Array.from({ length: LANES }, async (_, lane) => Promise.all([
    WsPeer.connect(a.base, await signTestToken({ sub: `a${lane}` })),
    WsPeer.connect(b.base, await signTestToken({ sub: `b${lane}` }))
  ])))
  t.teardown(() => { for (const pair of lanes) for (const p of pair) p.drop() })

  const rooms: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(lanes.map(async (pair, lane) => {
      const room = `race-${lane}-${round}`
      rooms.push(room)
      // Both peers join at once, one on each instance; then both leave at once.
      await Promise.all(pair.map(async (p) => join(p, room)))
      await Promise.all(pair.map(async (p) => leave(p, room)))
    }))
  }
  const total = rooms.length * 6
  await receiver.until((r) => firstDeliveries(r.events).length >= total, `${total} events`, 20_000)

  const events = firstDeliveries(receiver.events)
  const bad = rooms.flatMap((room) => {
    const problems = broken(events.filter((e) => e.data.room === room))
    return problems.length === 0 ? [] : [`${room}: ${problems.join('; ')} (${receiver.story(room).join(', ')})`]
  })
  t.same(bad, [], `every one of ${rooms.length} rooms in order, each event once`)
  t.equal(events.length, total, 'no event emitted twice (under another webhook-id)')
  t.comment(`redeliveries (same webhook-id): ${receiver.events.length - events.length}`)
  t.equal(receiver.invalid, 0)
})

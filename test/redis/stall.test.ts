import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis-server.js'
import { spawnInstance, type ChildInstance } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'

// Redis stopped (SIGSTOP) while its connections stay up: the case where every command hangs rather
// than fails. docs/redis.md promises each message an answer within REDIS_COMMAND_TIMEOUT_MS + 250 ms
// (delivered, or refused with SWB_REGISTRY_UNAVAILABLE, never both) and bounded server memory.
const skip = requireRedis(t)
// 216 MB go through two instances and Redis below: with both cores busy that alone can take a minute,
// more than the suite's default per-file timeout. The barriers' timeouts below are sized the same way.
t.setTimeout(300_000)

const COMMAND_TIMEOUT_MS = 500
const BOUND_MS = COMMAND_TIMEOUT_MS + 250
// A busy 2-core CI runner adds event-loop lag on top (the instances, the peers and this test share it).
const RUNNER_SLACK_MS = 250
const STALL_MS = 3000
const HEAP_LIMIT_MB = 128

const ENV = {
  REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
  // Longer than the stall, as by default: the stall must not look like dead instances.
  REDIS_INSTANCE_TTL_SECONDS: '10',
  REDIS_REAP_INTERVAL_SECONDS: '1',
  WS_MESSAGES_PER_SECOND: '1000',
  WS_MESSAGE_BURST: '1000',
  RESUME_BUFFER_BYTES: String(64 * 1024 * 1024),
  RESUME_BUFFER_MESSAGES: '100000'
}

function rssBytes (instance: ChildInstance): number {
  const status = readFileSync(`/proc/${instance.child.pid ?? 0}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** `count` pairs in rooms of their own: a sender on `from`, a receiver on `to` (every message crosses instances). */
async function pairs (t: Test, from: ChildInstance, to: ChildInstance, count: number, tag: string): Promise<Array<{ sender: WsPeer, receiver: WsPeer, room: string }>> {
  const out = []
  for (let i = 0; i < count; i++) {
    const room = `${tag}-${i}`
    const sender = await WsPeer.connect(from.base, await signTestToken({ sub: `${tag}-sender-${i}` }))
    const receiver = await WsPeer.connect(to.base, await signTestToken({ sub: `${tag}-receiver-${i}` }))
    t.teardown(() => { sender.drop(); receiver.drop() })
    for (const p of [sender, receiver]) {
      p.send({ type: 'join', room })
      await p.next('joined')
    }
    await sender.next('peer-joined')
    out.push({ sender, receiver, room })
  }
  return out
}

async function stalled (redis: RedisServer, ms: number): Promise<void> {
  const pid = Number(/process_id:(\d+)/.exec(redis.cli('info', 'server'))?.[1])
  process.kill(pid, 'SIGSTOP')
  try {
    await new Promise((resolve) => setTimeout(resolve, ms)) // the stall itself is what is being timed
  } finally {
    process.kill(pid, 'SIGCONT')
  }
}

t.test(`Redis stopped for ${STALL_MS} ms during traffic: every message delivered or refused within the bound, never both`, skip, async (t) => {
  const redis = await startRedis(t)
  const a = await spawnInstance(t, { ...ENV, REDIS_URL: redis.url, INSTANCE_ID: 'a' })
  const b = await spawnInstance(t, { ...ENV, REDIS_URL: redis.url, INSTANCE_ID: 'b' })
  const rooms = await pairs(t, a, b, 5, 'timing')

  // 200 msg/s in all (40 per sender) for 5 s, the stall in the middle.
  const sentAt = new Map<string, number>()
  const outcome = new Map<string, { kind: 'delivered' | 'refused', at: number }>()
  const twice: string[] = []
  const record = (id: string, kind: 'delivered' | 'refused'): void => {
    if (outcome.has(id)) twice.push(`${id}: ${outcome.get(id)?.kind ?? ''} and ${kind}`)
    else outcome.set(id, { kind, at: performance.now() })
  }
  for (const { sender, receiver } of rooms) {
    sender.socket.on('message', (raw: Buffer) => {
      const m = JSON.parse(raw.toString()) as { type: string, ref?: string, code?: string }
      if (m.type === 'error' && m.ref !== undefined && sentAt.has(m.ref)) {
        t.equal(m.code, 'SWB_REGISTRY_UNAVAILABLE', `refusal of ${m.ref}`)
        record(m.ref, 'refused')
      }
    })
    receiver.socket.on('message', (raw: Buffer) => {
      const m = JSON.parse(raw.toString()) as { type: string, data?: { id: string } }
      if (m.type === 'message' && m.data !== undefined) record(m.data.id, 'delivered')
    })
  }
  let n = 0
  const sending = setInterval(() => {
    for (const { sender, receiver, room } of rooms) {
      const id = `m${n++}`
      sentAt.set(id, performance.now())
      sender.send({ type: 'message', id, room, to: receiver.peerId, data: { id } })
    }
  }, 25)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  await stalled(redis, STALL_MS)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  clearInterval(sending)
  await until(() => outcome.size === sentAt.size, `an outcome for each of ${sentAt.size} messages`, 5000)

  const latencies = [...sentAt].map(([id, at]) => (outcome.get(id)?.at ?? Infinity) - at)
  const worst = Math.max(...latencies)
  const refused = [...outcome.values()].filter((o) => o.kind === 'refused').length
  t.comment(`${sentAt.size} messages: ${sentAt.size - refused} delivered, ${refused} refused; slowest answer ${Math.round(worst)} ms (bound ${BOUND_MS} ms)`)
  t.ok(refused > 0, 'the stall was felt: some messages were refused')
  t.ok(sentAt.size - refused > 0, 'and the others were delivered')
  t.ok(worst <= BOUND_MS + RUNNER_SLACK_MS, `every message answered within the bound (slowest ${Math.round(worst)} ms)`)
  // A refused message is never delivered later, when Redis runs the queued commands: give it the chance.
  for (const { sender, receiver } of rooms) {
    await sender.sync()
    await receiver.sync()
  }
  t.same(twice, [], 'no message was both refused and delivered')

  // Afterwards everything works again.
  const [{ sender, receiver, room }] = rooms as [typeof rooms[number]]
  sender.send({ type: 'message', room, to: receiver.peerId, data: { id: 'after' } })
  t.match(await receiver.next((m) => m.type === 'message' && (m.data as { id: string }).id === 'after'), { from: sender.peerId })
})

t.test('10 senders of 60 KB messages during a stall: server memory stays bounded', skip, async (t) => {
  const redis = await startRedis(t)
  // A heap far smaller than what is offered: were messages kept, the sending instance would run out of memory.
  const a = await spawnInstance(t, { ...ENV, REDIS_URL: redis.url, INSTANCE_ID: 'a', NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MB}` })
  const b = await spawnInstance(t, { ...ENV, REDIS_URL: redis.url, INSTANCE_ID: 'b' })
  const rooms = await pairs(t, a, b, 10, 'big')
  const before = rssBytes(a)
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(a)) }, 50)
  t.teardown(() => clearInterval(sampler))
  const payload = 'x'.repeat(60_000)

  const stall = stalled(redis, STALL_MS)
  // Each sender pushes 360 messages (21.6 MB) into the stall, 60 at a time: 216 MB offered in all.
  // Kept, that would be +216 MB; bounded, it is what waits per connection plus garbage not yet collected.
  for (let batch = 0; batch < 6; batch++) {
    for (const { sender, receiver, room } of rooms) {
      for (let i = 0; i < 60; i++) sender.send({ type: 'message', room, to: receiver.peerId, data: payload })
    }
    await new Promise((resolve) => setTimeout(resolve, STALL_MS / 8))
  }
  await stall
  await Promise.all(rooms.map(async ({ sender }) => sender.sync(120_000)))
  clearInterval(sampler)
  const mb = (bytes: number): number => Math.round(bytes / 1e6)
  t.comment(`instance A (old space capped at ${HEAP_LIMIT_MB} MB): RSS ${mb(before)} MB before, peak ${mb(peak)} MB during the stall (216 MB offered)`)
  // RSS also holds garbage not yet collected, and how much depends on the Node version (young-generation
  // sizes): the heap cap is the proof. Kept as parsed messages, the 216 MB would not fit in 128 MB of old
  // space; what waits per connection is bounded by the backpressure (PENDING_* in connection.ts).
  t.equal(a.child.exitCode, null, `the instance is alive: what was offered was not kept (peak RSS +${mb(peak - before)} MB)`)
  // Redis still works through what it was sent before the stall was noticed; until its probe is answered
  // the instance refuses (and says so on /health/ready). Serving again is the readiness barrier, then a relay.
  await until(async () => (await fetch(`${a.base}/health/ready`)).status === 200, 'instance A ready again', 60_000)
  const [{ sender, receiver, room }] = rooms as [typeof rooms[number]]
  sender.send({ type: 'message', id: 'after', room, to: receiver.peerId, data: 'after' })
  const answer = await Promise.race([
    receiver.next((m) => m.type === 'message' && m.data === 'after', 30_000),
    sender.errorFor('after', 30_000)
  ]).catch((e: Error) => ({ type: 'none', detail: `${e.message}\ninstance A:\n${a.output()}\ninstance B:\n${b.output()}` }))
  t.match(answer, { type: 'message', from: sender.peerId }, 'and serving')
})

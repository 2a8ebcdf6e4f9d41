import t from 'tap'
import { SwitchboardClient, type SwitchboardClientOptions } from '../../client/index.js'
import { connectedClient, dropServerSide, FakeClock, recordAcks, startServer, until } from './helpers.js'

interface Teardown { teardown (fn: () => unknown): void }

/**
 * Bob (with `options`) and Alice in room "r", and the acks the server applies for Bob. Bob has two
 * messages to acknowledge by then: his `joined` and Alice's `peer-joined`.
 */
async function pair (t: Teardown, options: Partial<SwitchboardClientOptions>) {
  const { app, base } = await startServer(t)
  const acks = recordAcks(app)
  const bob = await connectedClient(t, base, 'bob', options)
  await bob.join('r')
  const alice = await connectedClient(t, base, 'alice')
  const peerJoined = bob.waitFor('peer-joined', { timeoutMs: 2000 })
  await alice.join('r')
  await peerJoined
  const peerId = bob.peerId as string
  const received: unknown[] = []
  bob.on('message', (m) => received.push(m.data))
  /** Sends `n` more messages from Alice to Bob and waits until Bob has processed them. */
  async function deliver (n: number): Promise<void> {
    const target = received.length + n
    for (let i = 0; i < n; i++) alice.send('r', received.length + i + 1, peerId)
    await until(() => received.length === target, 3000, `${target} messages at Bob`)
  }
  const bobAcks = (): number[] => acks.filter((a) => a.peerId === peerId).map((a) => a.seq)
  /** Acks Bob sent before this returns have reached the server: a ping is answered after everything sent before it. */
  async function settled (): Promise<number[]> {
    await bob.ping()
    return bobAcks()
  }
  return { app, bob, peerId, deliver, bobAcks, settled }
}

t.test('after 64 messages an ack goes out at once, without waiting for the timer', async (t) => {
  const clock = new FakeClock()
  const { app, bob, peerId, deliver, bobAcks, settled } = await pair(t, { ackTimer: clock })
  // The setup's messages armed the timer: let it ack them, so that the count starts from zero.
  t.equal(clock.pending, 1)
  clock.advance(1000)
  await until(() => bobAcks().length === 1, 2000, 'the setup ack')
  const base = bob.lastSeq
  t.same(bobAcks(), [base])

  await deliver(63)
  t.same(await settled(), [base], '63 messages: no ack yet (the fake clock has not moved)')
  t.match(await app.registry.replay(peerId, base), { ok: true, messages: { length: 63 } }, 'the server still holds them')

  await deliver(1)
  await until(() => bobAcks().length === 2, 2000, 'the ack after the 64th message')
  t.same(bobAcks(), [base, base + 64], 'acknowledges everything processed')
  t.equal(bob.lastSeq, base + 64)
  t.same(await app.registry.replay(peerId, base), { ok: false, reason: 'overflow' }, 'the server freed what was acknowledged')
  t.same(await app.registry.replay(peerId, base + 64), { ok: true, messages: [] })
  t.equal(clock.pending, 0, 'the ack by count disarmed the timer')
})

t.test('fewer messages: the timer acks them ackIntervalMs after the first one arrived', async (t) => {
  const clock = new FakeClock()
  const { app, bob, peerId, deliver, bobAcks, settled } = await pair(t, { ackTimer: clock })
  clock.advance(1000)
  await until(() => bobAcks().length === 1, 2000, 'the setup ack')
  const base = bob.lastSeq

  await deliver(5)
  t.equal(clock.pending, 1, 'one timer for the five messages')
  clock.advance(999)
  t.same(await settled(), [base], 'not before the interval is over')
  clock.advance(1)
  await until(() => bobAcks().length === 2, 2000, 'the timer ack')
  t.same(bobAcks(), [base, base + 5])
  t.same(await app.registry.replay(peerId, base + 4), { ok: false, reason: 'overflow' })
  t.equal(clock.pending, 0)
})

t.test('by default the timer acks about one second after a message arrives', async (t) => {
  const { app, base } = await startServer(t)
  const acks = recordAcks(app)
  const bob = await connectedClient(t, base, 'bob')
  const started = Date.now()
  // `joined` carries seq 1: the first message to acknowledge.
  await bob.join('r')
  await until(() => acks.length > 0, 8000, 'the timer ack')
  const elapsed = Date.now() - started
  // The exact interval is proved with the fake clock above; this only shows the default is the real
  // timer at about a second. Timers never fire early, but a busy machine makes them late: the upper
  // bound only rules out a much longer default (or none at all).
  t.ok(elapsed >= 950 && elapsed < 6000, `after about 1 s (${elapsed} ms)`)
  t.same(acks, [{ peerId: bob.peerId, seq: 1 }])
})

t.test('no ack is sent when nothing new arrived', async (t) => {
  const clock = new FakeClock()
  const { bob, deliver, bobAcks, settled } = await pair(t, { ackTimer: clock })
  clock.advance(1000)
  await until(() => bobAcks().length === 1, 2000, 'the setup ack')
  const base = bob.lastSeq
  t.equal(clock.pending, 0, 'everything acknowledged: no timer waits')

  // Messages without a replayable seq (pong) are nothing to acknowledge.
  for (let i = 0; i < 3; i++) await bob.ping()
  t.equal(clock.pending, 0)
  clock.advance(60_000)
  t.same(await settled(), [base], 'a minute later: still the one ack')

  // And after the next ack, the same again.
  await deliver(2)
  clock.advance(1000)
  await until(() => bobAcks().length === 2, 2000, 'the timer ack')
  clock.advance(60_000)
  t.same(await settled(), [base, base + 2])
})

t.test('messages processed before a drop are acked on the resumed connection', async (t) => {
  const clock = new FakeClock()
  const { app, bob, peerId, deliver, bobAcks } = await pair(t, { ackTimer: clock })
  clock.advance(1000)
  await until(() => bobAcks().length === 1, 2000, 'the setup ack')
  const base = bob.lastSeq

  await deliver(3)
  const resumed = bob.waitFor('resumed', { timeoutMs: 3000 })
  dropServerSide(app, peerId)
  await resumed
  t.equal(clock.pending, 1, 'the timer is armed again on the new socket')
  clock.advance(1000)
  await until(() => bobAcks().length === 2, 2000, 'the ack on the new socket')
  t.same(bobAcks(), [base, base + 3])
})

t.test('ackEveryMessages 0: only the timer acks, however many arrive', async (t) => {
  const clock = new FakeClock()
  const { bob, deliver, bobAcks, settled } = await pair(t, { ackTimer: clock, ackEveryMessages: 0 })
  clock.advance(1000)
  await until(() => bobAcks().length === 1, 2000, 'the setup ack')
  const base = bob.lastSeq

  await deliver(70)
  t.same(await settled(), [base], 'no ack by count')
  clock.advance(1000)
  await until(() => bobAcks().length === 2, 2000, 'the timer ack')
  t.same(bobAcks(), [base, base + 70])
})

t.test('ackIntervalMs 0: only the count acks; every message with a seq counts', async (t) => {
  const clock = new FakeClock()
  const { bob, deliver, bobAcks, settled } = await pair(t, { ackTimer: clock, ackIntervalMs: 0 })
  // joined and peer-joined count as much as relayed messages do.
  const setup = bob.lastSeq
  t.ok(setup > 0)
  t.equal(clock.pending, 0, 'no timer')
  await deliver(63 - setup)
  clock.advance(60_000)
  t.same(await settled(), [], 'one short of 64: no ack')
  await deliver(1)
  await until(() => bobAcks().length === 1, 2000, 'the ack by count')
  t.same(bobAcks(), [64])
})

t.test('the ack options must be numbers >= 0', async (t) => {
  const base = { url: 'http://127.0.0.1:1', token: 't' }
  t.throws(() => new SwitchboardClient({ ...base, ackIntervalMs: -1 }), RangeError)
  t.throws(() => new SwitchboardClient({ ...base, ackEveryMessages: Number.NaN }), /ackEveryMessages/)
  t.doesNotThrow(() => new SwitchboardClient({ ...base, ackIntervalMs: 0, ackEveryMessages: 0 }))
})

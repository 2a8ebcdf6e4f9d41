import type { Test } from 'tap'
import type { PeerInfo } from '../../plugins/signaling/messages.js'
import { FRAME_HEADROOM, type JoinOutcome, type RegistryLimits, type RelayBody, type RoomRegistry, type Sink } from '../../plugins/registry/types.js'

/**
 * Builds a fresh, empty registry honouring `limits` (replay buffer bounds). A shared backend must
 * give each call its own namespace (or flush it), since the scenarios reuse peer and room names.
 */
export type RegistryFactory = (limits: RegistryLimits) => Promise<RoomRegistry>

const ROOMY: RegistryLimits = { bufferMessages: 1000, bufferBytes: 1024 * 1024 }
const JOIN_LIMITS = { capacity: 2, maxRoomsPerPeer: 2 }

/** A sink that records what it is pushed, as text at once: nothing of it is left to write (flushed). */
function recordingSink (): Sink & { pushed: Array<{ json: string, seq: number }> } {
  const pushed: Array<{ json: string, seq: number }> = []
  return {
    pushed,
    push (json, seq) { pushed.push({ json: String(json), seq }) },
    pushFrame (bytes, seq) { pushed.push({ json: bytes.toString('utf8', FRAME_HEADROOM), seq }) },
    flushed: () => true
  }
}

/** A shared registry pushes to sinks asynchronously (through pub/sub): wait for it, briefly. */
async function eventually (check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const member = (peerId: string, userId = `user-of-${peerId}`): PeerInfo => ({ peerId, userId })

/** A join outcome without the room's state (its createdAt is a clock reading), for exact comparisons. */
function plain (outcome: JoinOutcome): unknown {
  if (!outcome.ok) return outcome
  const { room: _room, ...rest } = outcome
  return rest
}
/** A server message as deliver() takes it (the registry stamps it). */
const serverBody = (n: number | string): string => JSON.stringify({ type: 'message', room: 'r', from: 'x', data: n })
/** The same message as relay() takes it, in pieces as relay-frame.ts makes them. */
const body = (n: number | string): RelayBody => ({
  head: (seq) => (seq === undefined ? '{' : `{"seq":${seq},`) + '"type":"message","room":"r","from":"x","data":',
  payload: JSON.stringify(n),
  tail: '}'
})

/**
 * The behaviour every RoomRegistry must have, run against any backend: the memory registry's test
 * calls it, and so will the Redis registry's (the LiveKit `test/scenarios.go` pattern).
 */
export function registryScenarios (t: Test, factory: RegistryFactory): void {
  async function fresh (t: Test, limits: RegistryLimits = ROOMY): Promise<RoomRegistry> {
    const registry = await factory(limits)
    t.teardown(async () => registry.close())
    return registry
  }

  /** A session with a peer id, its user and a resume token hash derived from the id. */
  async function session (registry: RoomRegistry, peerId: string, userId = `user-of-${peerId}`): Promise<void> {
    await registry.createSession(peerId, userId, `hash-${peerId}`)
  }

  t.test('connections: counted per user, capped atomically, released', async (t) => {
    const registry = await fresh(t)
    t.equal(await registry.connectionCount('u'), 0)
    t.equal(await registry.acquireConnection('u', 2), true)
    t.equal(await registry.acquireConnection('u', 2), true)
    t.equal(await registry.acquireConnection('u', 2), false, 'the third is refused')
    t.equal(await registry.connectionCount('u'), 2, 'a refusal changes nothing')
    t.equal(await registry.acquireConnection('other', 2), true, 'users are counted apart')
    registry.releaseConnection('u')
    t.equal(await registry.connectionCount('u'), 1)
    t.equal(await registry.acquireConnection('u', 2), true)
    registry.releaseConnection('u')
    registry.releaseConnection('u')
    registry.releaseConnection('u') // one too many
    t.equal(await registry.connectionCount('u'), 0, 'never below zero')
    t.equal(await registry.acquireConnection('u', 1), true, 'an extra release does not grant an extra slot')
    t.equal(await registry.acquireConnection('u', 1), false)

    const results = await Promise.all(Array.from({ length: 10 }, async () => registry.acquireConnection('burst', 3)))
    t.equal(results.filter(Boolean).length, 3, 'concurrent acquires never exceed the cap')
    t.equal(await registry.connectionCount('burst'), 3)
  })

  t.test('sessions: found by resume token hash, rotated, and remembered as ended', async (t) => {
    const registry = await fresh(t)
    t.equal(await registry.findSession('hash-nobody'), undefined)
    await session(registry, 'p1', 'alice')
    t.same(await registry.findSession('hash-p1'), { peerId: 'p1', userId: 'alice', seq: 0, rooms: [] })

    t.match(await registry.claimSession('p1', 'hash-p1-next', 'hash-p1'), { epoch: 1 }, 'the first claim')
    t.match(await registry.findSession('hash-p1-next'), { peerId: 'p1', userId: 'alice' })
    t.match(await registry.findSession('hash-p1'), { peerId: 'p1', userId: 'alice' }, 'the presented hash still finds it (its successor may be lost)')
    t.equal(await registry.claimSession('nobody', 'hash-x', 'hash-y'), undefined, 'unknown peer: no claim, no throw')
    t.equal(await registry.findSession('hash-x'), undefined)
    t.equal(await registry.findSession('hash-y'), undefined)

    await registry.join('r1', member('p1', 'alice'), JOIN_LIMITS)
    await registry.deliver('p1', serverBody(1))
    t.same(await registry.findSession('hash-p1-next'), { peerId: 'p1', userId: 'alice', seq: 1, rooms: ['r1'] })

    t.same(await registry.deleteSession('p1'), [{ room: 'r1', remaining: [] }], 'deleting returns the rooms it was in')
    t.equal(await registry.findSession('hash-p1-next'), 'ended', 'its current token reads as ended')
    t.equal(await registry.findSession('hash-p1'), 'ended', 'and so does its previous one')
    t.same(await registry.deleteSession('p1'), [], 'deleting twice is harmless')
    t.equal(await registry.deliver('p1', serverBody(2)), 'dropped', 'an ended session receives nothing')
  })

  t.test('resume tokens: the presented one stays valid until its successor is presented', async (t) => {
    const registry = await fresh(t)
    await session(registry, 'p', 'alice')
    const found = { peerId: 'p', userId: 'alice' }

    // Resumed with T1: the welcome with T2 is lost, so the client resumes with T1 again.
    t.match(await registry.claimSession('p', 'T2', 'hash-p'), { epoch: 1 })
    t.match(await registry.claimSession('p', 'T3', 'hash-p'), { epoch: 2 }, 'each claim has a higher epoch')
    t.match(await registry.findSession('hash-p'), found, 'T1 still works: the client never got a successor')
    t.match(await registry.findSession('T3'), found)
    t.equal(await registry.findSession('T2'), undefined, 'T2, never presented and replaced, is unknown')

    // The welcome with T3 arrived and the client resumes with it: T1 is retired.
    t.match(await registry.claimSession('p', 'T4', 'T3'), { epoch: 3 })
    t.match(await registry.findSession('T4'), found)
    t.match(await registry.findSession('T3'), found)
    t.equal(await registry.findSession('hash-p'), undefined, 'T1 no longer resolves once its successor was used')
    t.equal(await registry.claimSession('p', 'T5', 'hash-p'), undefined, 'a claim with a retired token fails')
    t.equal(await registry.claimSession('p', 'T5', 'T2'), undefined, 'and so does one with a token never presented')
    t.match(await registry.findSession('T4'), found, 'failed claims change nothing')

    await registry.deleteSession('p')
    t.equal(await registry.findSession('T4'), 'ended')
    t.equal(await registry.findSession('T3'), 'ended')
    t.equal(await registry.findSession('hash-p'), undefined, 'a superseded token does not read as ended either')
    t.equal(await registry.findSession('T2'), undefined)
  })

  t.test('join: capacity, idempotence, rooms per peer, unknown peers', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b', 'c']) await session(registry, p)
    t.same(plain(await registry.join('r', member('a'), JOIN_LIMITS)), { ok: true, peers: [], alreadyJoined: false })
    t.same(plain(await registry.join('r', member('b'), JOIN_LIMITS)), { ok: true, peers: [member('a')], alreadyJoined: false })
    t.same(await registry.join('r', member('c'), JOIN_LIMITS), { ok: false, reason: 'full', capacity: 2 })
    t.same(plain(await registry.join('r', member('a'), JOIN_LIMITS)), { ok: true, peers: [member('b')], alreadyJoined: true }, 'a member joining again')
    t.same(await registry.join('r', member('ghost'), JOIN_LIMITS), { ok: false, reason: 'unknown-peer' })

    t.match(await registry.join('r2', member('a'), JOIN_LIMITS), { ok: true })
    t.same(await registry.join('r3', member('a'), JOIN_LIMITS), { ok: false, reason: 'too-many-rooms' })
    t.same(await registry.members('r3'), [], 'a refused join leaves no trace')

    t.same((await registry.members('r')).map((m) => m.peerId).sort(), ['a', 'b'])
    t.same(await registry.members('nowhere'), [])
  })

  t.test('join keeps the member info (role, meta) it was given', async (t) => {
    const registry = await fresh(t)
    await session(registry, 'a')
    await session(registry, 'b')
    const withInfo: PeerInfo = { peerId: 'a', userId: 'dr', role: 'host', meta: { name: 'Dr A', tags: ['x'] } }
    await registry.join('r', withInfo, JOIN_LIMITS)
    t.same(plain(await registry.join('r', member('b'), JOIN_LIMITS)), { ok: true, peers: [withInfo], alreadyJoined: false })
    t.same((await registry.members('r')).find((m) => m.peerId === 'a'), withInfo)
  })

  t.test('join is atomic: 20 concurrent joins to a room of 2 admit exactly 2', async (t) => {
    const registry = await fresh(t)
    const ids = Array.from({ length: 20 }, (_, i) => `p${i}`)
    for (const id of ids) await session(registry, id)
    const outcomes = await Promise.all(ids.map(async (id) => registry.join('hot', member(id), JOIN_LIMITS)))
    t.equal(outcomes.filter((o) => o.ok).length, 2)
    t.ok(outcomes.filter((o) => !o.ok).every((o) => !o.ok && o.reason === 'full'))
    t.equal((await registry.members('hot')).length, 2)
  })

  t.test('rooms per peer is atomic too: concurrent joins of one peer to many rooms', async (t) => {
    const registry = await fresh(t)
    await session(registry, 'p')
    const outcomes = await Promise.all(Array.from({ length: 10 }, async (_, i) => registry.join(`room-${i}`, member('p'), JOIN_LIMITS)))
    t.equal(outcomes.filter((o) => o.ok).length, 2)
    t.equal((await registry.findSession('hash-p') as { rooms: string[] }).rooms.length, 2)
  })

  t.test('leave: frees the place, reports whether the peer was there', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b', 'c']) await session(registry, p)
    await registry.join('r', member('a'), JOIN_LIMITS)
    await registry.join('r', member('b'), JOIN_LIMITS)
    t.same(await registry.leave('r', 'a'), [member('b')], 'returns who is left')
    t.equal(await registry.leave('r', 'a'), undefined, 'not there any more')
    t.equal(await registry.leave('elsewhere', 'b'), undefined)
    t.match(await registry.join('r', member('c'), JOIN_LIMITS), { ok: true }, 'its place is free')
    t.same((await registry.findSession('hash-a') as { rooms: string[] }).rooms, [], 'the peer no longer lists the room')
    t.match(await registry.join('r2', member('a'), JOIN_LIMITS), { ok: true })
    t.match(await registry.join('r3', member('a'), JOIN_LIMITS), { ok: true }, 'and its room count went down')
  })

  t.test('deleteSession takes the peer out of all its rooms; empty rooms disappear', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b']) await session(registry, p)
    await registry.join('r1', member('a'), JOIN_LIMITS)
    await registry.join('r2', member('a'), JOIN_LIMITS)
    await registry.join('r2', member('b'), JOIN_LIMITS)
    const departures = (await registry.deleteSession('a')).sort((x, y) => x.room.localeCompare(y.room))
    t.same(departures.map((d) => [d.room, d.remaining.map((m) => m.peerId)]), [['r1', []], ['r2', ['b']]], 'each room with the members still in it')
    t.same(await registry.members('r1'), [])
    t.same((await registry.members('r2')).map((m) => m.peerId), ['b'])
    t.equal(await registry.relay('r2', 'b', 'a', body('x')), 'recipient-not-in-room', 'a deleted session receives nothing')
  })

  /** Records what the membership listener hears, one line per change. */
  function listen (registry: RoomRegistry): string[] {
    const heard: string[] = []
    registry.watch({
      joined: (room, m, started) => heard.push(`joined ${room} ${m.peerId}${m.role === undefined ? '' : ` as ${m.role}`}${started ? ' (started)' : ''}`),
      left: (room, m, reason, ended) => heard.push(`left ${room} ${m.peerId} ${reason}${ended === undefined ? '' : ` (ended: ${ended})`}`),
      resumed: (room, m) => heard.push(`resumed ${room} ${m.peerId}`)
    })
    return heard
  }

  t.test('membership changes are reported once, by the step that made them, with the room\'s start and end', async (t) => {
    const registry = await fresh(t)
    const heard = listen(registry)
    for (const p of ['a', 'b']) await session(registry, p)
    await registry.join('r', { ...member('a'), role: 'doctor', meta: { note: 'x' } }, JOIN_LIMITS)
    await registry.join('r', member('a'), JOIN_LIMITS)
    await registry.join('r', member('b'), JOIN_LIMITS)
    await registry.leave('r', 'b')
    await registry.leave('r', 'b')
    await registry.claimSession('a', 'hash-a2', 'hash-a')
    await registry.deleteSession('a', false, 'left')
    await registry.deleteSession('a', false, 'left')
    t.same(heard, [
      'joined r a as doctor (started)', 'joined r b', 'left r b left', 'resumed r a', 'left r a left (ended: empty)'
    ], 'a repeated join, leave or end is not reported again')

    heard.length = 0
    await session(registry, 'c')
    await registry.join('ended-by-api', member('c'), JOIN_LIMITS)
    await registry.leave('ended-by-api', 'c', 'removed', 'api')
    await registry.join('r', member('c'), JOIN_LIMITS)
    await registry.deleteSession('c')
    t.same(heard, ['joined ended-by-api c (started)', 'left ended-by-api c removed (ended: api)', 'joined r c (started)', 'left r c timeout (ended: empty)'],
      'the reasons given, timeout by default')
  })

  t.test('a room starts once and ends once however many peers join and leave it at the same moment', async (t) => {
    const registry = await fresh(t)
    const heard = listen(registry)
    const peers = Array.from({ length: 12 }, (_, i) => `p${i}`)
    for (const p of peers) await session(registry, p)
    for (let round = 0; round < 3; round++) {
      await Promise.all(peers.map(async (p) => registry.join('crowd', member(p), { capacity: 20, maxRoomsPerPeer: 2 })))
      // Half leave, half end their sessions: both ways out race each other.
      await Promise.all(peers.map(async (p, i) => i % 2 === 0 ? registry.leave('crowd', p) : registry.deleteSession(p)))
      for (const [i, p] of peers.entries()) if (i % 2 === 1) await session(registry, p)
    }
    t.equal(heard.filter((h) => h.endsWith('(started)')).length, 3, 'one start per round')
    t.equal(heard.filter((h) => h.endsWith('(ended: empty)')).length, 3, 'one end per round')
    t.equal(heard.filter((h) => h.startsWith('joined')).length, 36)
    t.equal(heard.filter((h) => h.startsWith('left')).length, 36)
    const starts = heard.flatMap((h, i) => h.endsWith('(started)') ? [i] : [])
    const ends = heard.flatMap((h, i) => h.endsWith('(ended: empty)') ? [i] : [])
    t.ok(starts.every((s, i) => s < (ends[i] ?? -1) && (i === 0 || (ends[i - 1] ?? Infinity) < s)), 'start, end, start, end, ...')
  })

  t.test('relay: one step that checks both memberships, never across rooms', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b', 'c']) await session(registry, p)
    await registry.join('r', member('a'), JOIN_LIMITS)
    await registry.join('r', member('b'), JOIN_LIMITS)
    await registry.join('other', member('c'), JOIN_LIMITS)
    const sink = recordingSink()
    registry.attach('b', sink)
    t.equal(await registry.relay('r', 'a', 'b', body('hi')), 'delivered')
    t.equal(await registry.relay('r', 'c', 'b', body('intruder')), 'sender-not-in-room', 'the sender must be in the room')
    t.equal(await registry.relay('other', 'c', 'b', body('intruder')), 'recipient-not-in-room', 'the recipient must be in the room named')
    t.equal(await registry.relay('r', 'a', 'a', body('self')), 'recipient-not-in-room', 'nobody relays to itself')
    t.equal(await registry.relay('r', 'a', 'ghost', body('x')), 'recipient-not-in-room')
    t.equal(await registry.relay('nowhere', 'a', 'b', body('x')), 'sender-not-in-room')
    t.equal(await registry.relay('r', 'b', 'a', body('back')), 'queued', 'a has no sink: kept for replay')
    await eventually(() => sink.pushed.length === 1, 'the relayed message')
    t.same(sink.pushed.map((p) => JSON.parse(p.json) as unknown), [{ seq: 1, type: 'message', room: 'r', from: 'x', data: 'hi' }])
    await registry.leave('r', 'a')
    t.equal(await registry.relay('r', 'a', 'b', body('after leave')), 'sender-not-in-room', 'a peer that left relays nothing more')
    t.equal(await registry.relay('r', 'b', 'a', body('after leave')), 'recipient-not-in-room')
    const forB = await registry.replay('b', 0)
    t.same(forB.ok ? forB.messages.map((m) => m.seq) : forB, [1], 'refused relays left nothing in the buffer')
  })

  t.test('relay: a join the full room refuses never lets a message through while it is under way', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b', 'c']) await session(registry, p)
    await registry.join('r', member('a'), JOIN_LIMITS)
    await registry.join('r', member('c'), JOIN_LIMITS)
    // b's join attempts and a's relays to b interleave (with Redis: their round trips on one connection).
    let joining = true
    const attempts = (async () => {
      const outcomes: string[] = []
      for (let i = 0; i < 60; i++) {
        const outcome = await registry.join('r', member('b'), JOIN_LIMITS)
        outcomes.push(outcome.ok ? 'joined' : outcome.reason)
      }
      joining = false
      return outcomes
    })()
    const relayed: string[] = []
    while (joining) relayed.push(await registry.relay('r', 'a', 'b', body('while b joins')))
    t.same([...new Set(await attempts)], ['full'], 'every attempt is refused: the room is full')
    t.ok(relayed.length > 0, `${relayed.length} relays ran meanwhile`)
    t.same([...new Set(relayed)], ['recipient-not-in-room'], 'none reached b, which never was in the room')
    const forB = await registry.replay('b', 0)
    t.same(forB.ok ? forB.messages : forB, [], 'nothing in b\'s buffer')
    t.same((await registry.join('other', member('b'), JOIN_LIMITS)).ok, true, 'the refused attempts hold none of b\'s room slots')
  })

  t.test('deliver with a room: only to a member of it, checked in the same step', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b']) await session(registry, p)
    await registry.join('r', member('a'), JOIN_LIMITS)
    await registry.join('other', member('b'), JOIN_LIMITS)
    t.equal(await registry.deliver('a', serverBody('peer-joined'), 'r'), 'queued', 'a member gets a notice about its room')
    t.equal(await registry.deliver('b', serverBody('peer-joined'), 'r'), 'dropped', 'a peer of another room does not')
    await registry.leave('r', 'a')
    t.equal(await registry.deliver('a', serverBody('peer-left'), 'r'), 'dropped', 'nor one that left the room meanwhile')
    t.equal(await registry.deliver('a', serverBody('left')), 'queued', 'without a room: delivered as before')
    const forA = await registry.replay('a', 0)
    t.same(forA.ok ? forA.messages.map((m) => (JSON.parse(String(m.json)) as { data: string }).data) : forA, ['peer-joined', 'left'], 'only the deliveries made are in the buffer')
    const forB = await registry.replay('b', 0)
    t.same(forB.ok ? forB.messages : forB, [], 'nothing for b')
  })

  t.test('relayed messages of one sender arrive in the order sent, also when issued together', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b']) await session(registry, p)
    await registry.join('r', member('a'), JOIN_LIMITS)
    await registry.join('r', member('b'), JOIN_LIMITS)
    const sink = recordingSink()
    registry.attach('b', sink)
    const outcomes = await Promise.all(Array.from({ length: 50 }, async (_, i) => registry.relay('r', 'a', 'b', body(i))))
    t.ok(outcomes.every((o) => o === 'delivered'))
    await eventually(() => sink.pushed.length === 50, 'all 50')
    t.same(sink.pushed.map((p) => (JSON.parse(p.json) as { data: number }).data), Array.from({ length: 50 }, (_, i) => i))
    t.same(sink.pushed.map((p) => p.seq), Array.from({ length: 50 }, (_, i) => i + 1))
  })

  t.test('deliver: per-peer consecutive seq, stamped into the JSON, pushed to the attached sink', async (t) => {
    const registry = await fresh(t)
    await session(registry, 'a')
    await session(registry, 'b')
    t.equal(await registry.deliver('a', serverBody('queued')), 'queued', 'no sink: kept for replay')
    const sink = recordingSink()
    registry.attach('a', sink)
    t.equal(await registry.deliver('a', serverBody('live')), 'delivered')
    t.equal(await registry.deliver('b', serverBody('to b')), 'queued', 'b has its own sequence')
    t.equal(await registry.deliver('nobody', serverBody('x')), 'dropped')

    await eventually(() => sink.pushed.length === 1, 'the live message to reach the sink')
    t.same(sink.pushed.map((p) => p.seq), [2], 'only what was delivered while attached is pushed')
    const pushed = sink.pushed[0]
    t.same(JSON.parse(pushed?.json ?? '{}'), { seq: 2, type: 'message', room: 'r', from: 'x', data: 'live' })
    const forB = await registry.replay('b', 0)
    t.same(forB.ok ? forB.messages.map((m) => m.seq) : forB, [1])

    // Detaching another sink is a no-op: a replaced connection must not unplug its successor.
    const stale = recordingSink()
    registry.detach('a', stale)
    t.equal(await registry.deliver('a', serverBody('still live')), 'delivered')
    await eventually(() => sink.pushed.length === 2, 'the second live message')
    registry.detach('a', sink)
    t.equal(await registry.deliver('a', serverBody('after detach')), 'queued')

    // A new sink replaces the old one.
    const next = recordingSink()
    registry.attach('a', sink)
    registry.attach('a', next)
    await registry.deliver('a', serverBody('to the new sink'))
    await eventually(() => next.pushed.some((p) => p.seq === 5), 'the new sink to get seq 5')
    t.same(sink.pushed.map((p) => p.seq), [2, 3], 'the old sink got nothing after it was detached or replaced')
    t.same(stale.pushed, [])
  })

  t.test('replay: everything after lastSeq, in order; bad seq and unknown peers refused', async (t) => {
    const registry = await fresh(t)
    await session(registry, 'a')
    for (let i = 1; i <= 5; i++) await registry.deliver('a', serverBody(i))
    const all = await registry.replay('a', 0)
    t.ok(all.ok)
    if (!all.ok) return
    t.same(all.messages.map((m) => m.seq), [1, 2, 3, 4, 5])
    t.same(all.messages.map((m) => (JSON.parse(String(m.json)) as { data: number }).data), [1, 2, 3, 4, 5])
    t.ok(all.messages.every((m) => (JSON.parse(String(m.json)) as { seq: number }).seq === m.seq), 'the JSON carries the same seq')
    t.same(await registry.replay('a', 3).then((r) => r.ok ? r.messages.map((m) => m.seq) : r), [4, 5])
    t.same(await registry.replay('a', 5).then((r) => r.ok ? r.messages : r), [], 'nothing missed')
    t.same(await registry.replay('a', 6), { ok: false, reason: 'bad-seq' })
    t.same(await registry.replay('nobody', 0), { ok: false, reason: 'unknown-peer' })
  })

  t.test('replay buffer bounded by message count: the oldest go, and replaying from before them is overflow', async (t) => {
    const registry = await fresh(t, { bufferMessages: 3, bufferBytes: 1024 * 1024 })
    await session(registry, 'a')
    for (let i = 1; i <= 5; i++) await registry.deliver('a', serverBody(i))
    t.same(await registry.replay('a', 0), { ok: false, reason: 'overflow' })
    t.same(await registry.replay('a', 1), { ok: false, reason: 'overflow' })
    t.same(await registry.replay('a', 2).then((r) => r.ok ? r.messages.map((m) => m.seq) : r), [3, 4, 5], 'from the last evicted seq is whole')
    t.equal((await registry.findSession('hash-a') as { seq: number }).seq, 5, 'eviction does not rewind seq')
  })

  t.test('replay buffer bounded by bytes', async (t) => {
    const registry = await fresh(t, { bufferMessages: 1000, bufferBytes: 1024 })
    await session(registry, 'a')
    const big = 'x'.repeat(400)
    for (let i = 1; i <= 4; i++) await registry.deliver('a', serverBody(`${i}${big}`))
    const kept = await registry.replay('a', 2)
    t.ok(kept.ok, 'the newest two (about 900 bytes) are kept')
    if (kept.ok) t.same(kept.messages.map((m) => m.seq), [3, 4])
    t.same(await registry.replay('a', 1), { ok: false, reason: 'overflow' })
  })

  t.test('replay buffer bytes are UTF-8 bytes, in every backend', async (t) => {
    const registry = await fresh(t, { bufferMessages: 1000, bufferBytes: 1024 })
    await session(registry, 'a')
    // 300 × "é": 300 UTF-16 code units, 600 UTF-8 bytes. Two of them fit in 1024 code units but not in 1024 bytes.
    const accented = 'é'.repeat(300)
    await registry.deliver('a', serverBody(`1${accented}`))
    await registry.deliver('a', serverBody(`2${accented}`))
    t.same(await registry.replay('a', 0), { ok: false, reason: 'overflow' }, 'the first was evicted: counted in bytes')
    const kept = await registry.replay('a', 1)
    t.same(kept.ok ? kept.messages.map((m) => (JSON.parse(String(m.json)) as { data: string }).data) : kept, [`2${accented}`], 'the text survives intact')
  })

  t.test('ack frees the buffer up to seq; a replay from before the ack is overflow, never a silent gap', async (t) => {
    const registry = await fresh(t, { bufferMessages: 3, bufferBytes: 1024 * 1024 })
    await session(registry, 'a')
    for (let i = 1; i <= 3; i++) await registry.deliver('a', serverBody(i))
    await registry.ack('a', 2)
    t.same(await registry.replay('a', 2).then((r) => r.ok ? r.messages.map((m) => m.seq) : r), [3])
    t.same(await registry.replay('a', 1), { ok: false, reason: 'overflow' })
    // The freed room is usable: three more fit without evicting seq 3.
    await registry.deliver('a', serverBody(4))
    await registry.deliver('a', serverBody(5))
    t.same(await registry.replay('a', 2).then((r) => r.ok ? r.messages.map((m) => m.seq) : r), [3, 4, 5])
    await registry.ack('a', 100) // beyond the end: everything is acknowledged, seq is unchanged
    t.same(await registry.replay('a', 5).then((r) => r.ok ? r.messages : r), [])
    t.equal((await registry.findSession('hash-a') as { seq: number }).seq, 5)
    await registry.ack('nobody', 1) // unknown peer: no throw
  })

  t.test('healthy and close', async (t) => {
    const registry = await factory(ROOMY)
    t.match(await registry.healthy(), { ok: true })
    t.type(registry.kind, 'string')
    await registry.close()
  })

  t.test('room settings: the API capacity wins over the grant of the first peer, which wins over the default', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b', 'c', 'd']) await session(registry, p)
    const started = await registry.join('group', member('a'), { ...JOIN_LIMITS, grantCapacity: 3 })
    t.match(started, { ok: true, room: { createdAt: Number } })
    t.match(await registry.join('group', member('b'), JOIN_LIMITS), { ok: true }, 'the grant that started the room counts for later joiners')
    t.match(await registry.join('group', member('c'), { ...JOIN_LIMITS, grantCapacity: 10 }), { ok: true }, 'a later grant does not change it')
    t.same(await registry.join('group', member('d'), JOIN_LIMITS), { ok: false, reason: 'full', capacity: 3 })
    const settings = { capacity: 4, metadata: { topic: 'therapy' } }
    await registry.putRoomSettings('group', settings)
    const joined = await registry.join('group', member('d'), JOIN_LIMITS)
    t.match(joined, { ok: true, room: { settings } }, 'the API capacity wins; the settings come with the join')
    await registry.putRoomSettings('group', { capacity: 1 })
    t.match(await registry.roomDetail('group'), { peers: 4, settings: { capacity: 1 } }, 'lowering the capacity removes nobody')
  })

  t.test('room detail and list: members with joinedAt and connection, paged by name', async (t) => {
    const registry = await fresh(t)
    await session(registry, 'a')
    await session(registry, 'b')
    registry.attach('a', recordingSink())
    await registry.join('clinic/1', { peerId: 'a', userId: 'dr', role: 'host', meta: { n: 1 } }, JOIN_LIMITS)
    await registry.join('clinic/1', member('b'), JOIN_LIMITS)
    await registry.putRoomSettings('clinic/2', { maxDurationSeconds: 60 })
    await registry.join('clinic/3', member('b'), JOIN_LIMITS)
    const detail = await registry.roomDetail('clinic/1')
    t.match(detail, { room: 'clinic/1', peers: 2, createdAt: Number })
    const byId = new Map(detail?.members.map((m) => [m.peerId, m]))
    t.match(byId.get('a'), { userId: 'dr', role: 'host', meta: { n: 1 }, connected: true, joinedAt: Number })
    t.match(byId.get('b'), { connected: false }, 'b has no socket attached (as inside its grace period)')
    t.equal(await registry.roomDetail('nowhere'), undefined)
    const first = await registry.listRooms(undefined, 2)
    t.same(first.rooms.map((r) => [r.room, r.peers]), [['clinic/1', 2], ['clinic/2', 0]])
    t.equal(first.next, 'clinic/2')
    const second = await registry.listRooms(first.next, 2)
    t.same(second.rooms.map((r) => r.room), ['clinic/3'])
    t.equal(second.next, undefined)
    await registry.leave('clinic/3', 'b')
    t.same((await registry.listRooms(undefined, 10)).rooms.map((r) => r.room), ['clinic/1', 'clinic/2'], 'an empty room without settings is gone')
  })

  t.test('endRoom: everyone out, settings gone, the name starts afresh; only the room that started then', async (t) => {
    const registry = await fresh(t)
    for (const p of ['a', 'b']) await session(registry, p)
    await registry.putRoomSettings('r', { capacity: 1 })
    const joined = await registry.join('r', member('a'), JOIN_LIMITS)
    if (!joined.ok) throw new Error('join failed')
    t.equal(await registry.endRoom('r', joined.room.createdAt - 1), undefined, 'a later room of the same name is not ended by an older timer')
    await registry.join('empty', member('b'), JOIN_LIMITS)
    await registry.putRoomSettings('empty', { maxDurationSeconds: 60 })
    const emptied = await registry.roomDetail('empty')
    await registry.leave('empty', 'b')
    t.equal(await registry.endRoom('empty', emptied?.createdAt), undefined, 'a room that emptied already ended: a timer leaves it (and its settings) alone')
    t.match(await registry.roomDetail('empty'), { peers: 0, settings: { maxDurationSeconds: 60 } })
    t.same((await registry.endRoom('r', joined.room.createdAt))?.map((m) => m.peerId), ['a'])
    t.same(await registry.members('r'), [])
    t.equal(await registry.roomDetail('r'), undefined)
    t.equal(await registry.endRoom('r'), undefined, 'ended twice: the second finds nothing')
    t.match(await registry.join('r', member('b'), JOIN_LIMITS), { ok: true }, 'the settings went with it (capacity 1 would not matter, but it is a new room)')
    t.match(await registry.join('r', member('a'), JOIN_LIMITS), { ok: true }, 'a can join again: it is no longer counted in r')
  })

  t.test('revocations: recorded, told to the listener, and sessions of the user found', async (t) => {
    const registry = await fresh(t)
    const told: Array<[string, number]> = []
    registry.listen({ takenOver: () => {}, orphaned: async () => {}, revoked: async (userId, at) => { told.push([userId, at]) }, roomDeadline: async () => {}, missedDeparture: async () => {}, missedArrival: async () => {} })
    await session(registry, 'a', 'dr')
    await session(registry, 'b', 'dr')
    await session(registry, 'c', 'nurse')
    t.same(registry.sessionsOf('dr').sort(), ['a', 'b'])
    t.equal(registry.revokedAt('dr'), undefined)
    // A recent cutoff: one older than the revocation retention (a week by default) is not kept.
    const at = Date.now() - 1000
    await registry.revokeUser('dr', at)
    t.equal(registry.revokedAt('dr'), at)
    t.same(told, [['dr', at]], 'told before revokeUser resolves')
  })

}

import t from 'tap'
import { CONCURRENT_SESSION_ENDS } from '../../../plugins/signaling/hub.js'
import { signalingServer, pair, type Harness } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

/** More sessions ending at once than may run at once. */
const ROOMS = CONCURRENT_SESSION_ENDS + 24

/**
 * Holds every session end (the registry's deleteSession) at a gate and counts how many have started:
 * the instance's own registry, watched, so the test decides when Redis (or memory) may answer.
 */
function gateSessionEnds (h: Harness): { started: () => number, mostAtOnce: () => number, open: () => void, ended: Set<string> } {
  const registry = h.app.registry
  const original = registry.deleteSession.bind(registry)
  let started = 0
  const ended = new Set<string>()
  let running = 0
  let most = 0
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  registry.deleteSession = async (...args) => {
    started++
    ended.add(args[0])
    most = Math.max(most, ++running)
    try {
      await gate
      return await original(...args)
    } finally {
      running--
    }
  }
  return { started: () => started, mostAtOnce: () => most, open: release, ended }
}

async function pairs (h: Harness): Promise<Array<[WsPeer, WsPeer]>> {
  const all: Array<[WsPeer, WsPeer]> = []
  for (let i = 0; i < ROOMS; i++) all.push(await pair(h, `mass-${i}`, [`leaver-${i}`, `stayer-${i}`]))
  return all
}

t.test(`${ROOMS} peers say goodbye at once: at most ${CONCURRENT_SESSION_ENDS} session ends run at a time, and every room hears peer-left`, async (t) => {
  const h = await signalingServer(t)
  const rooms = await pairs(h)
  const gate = gateSessionEnds(h)
  for (const [leaver] of rooms) leaver.close(1000)
  await until(() => gate.started() === CONCURRENT_SESSION_ENDS, `${CONCURRENT_SESSION_ENDS} session ends started`, 10_000)
  // The rest wait their turn: a ping round trip through the instance lets any extra one show up.
  await rooms[0]?.[1].sync()
  t.equal(gate.started(), CONCURRENT_SESSION_ENDS, 'no more than the cap started while they are held')
  gate.open()
  for (const [leaver, stayer] of rooms) t.match(await stayer.next('peer-left', 10_000), { peerId: leaver.peerId, reason: 'left' })
  t.equal(gate.mostAtOnce(), CONCURRENT_SESSION_ENDS)
  t.equal(gate.started(), ROOMS, 'every session ended')
})

t.test(`${ROOMS} peers drop at once: their grace periods end under the same cap; one that resumes while its end waits keeps its session`, async (t) => {
  const h = await signalingServer(t, { RESUME_GRACE_SECONDS: 0.2 })
  const rooms = await pairs(h)
  const gate = gateSessionEnds(h)
  for (const [leaver] of rooms) leaver.drop()
  await until(() => gate.started() === CONCURRENT_SESSION_ENDS, `${CONCURRENT_SESSION_ENDS} grace expiries started`, 10_000)
  await rooms[0]?.[1].sync()
  t.equal(gate.started(), CONCURRENT_SESSION_ENDS, 'no more than the cap started while they are held')
  // A leaver whose grace is over but whose end has not started (it waits its turn): it resumes now.
  const lateIndex = rooms.findIndex(([leaver]) => !gate.ended.has(leaver.peerId))
  const [late, lateStayer] = rooms[lateIndex] as [WsPeer, WsPeer]
  const lateRoom = `mass-${lateIndex}`
  const resumed = h.track(await WsPeer.resume(h.base, await h.token(`leaver-${lateIndex}`), late))
  t.match(resumed.welcome, { resumed: true, peerId: late.peerId, rooms: [lateRoom] }, 'resumed while its end waited')
  gate.open()
  for (const [leaver, stayer] of rooms.filter((_, i) => i !== lateIndex)) t.match(await stayer.next('peer-left', 10_000), { peerId: leaver.peerId, reason: 'timeout' })
  t.equal(gate.mostAtOnce(), CONCURRENT_SESSION_ENDS)
  t.equal(gate.started(), ROOMS - 1, 'the resumed session was not ended')
  // The resumed peer still relays to its partner, who never saw it leave.
  resumed.send({ type: 'message', room: lateRoom, to: lateStayer.peerId, data: 'back' })
  t.match(await lateStayer.next('message'), { from: late.peerId, data: 'back' })
  t.same(lateStayer.ofType('peer-left'), [], 'its partner never saw peer-left')
})

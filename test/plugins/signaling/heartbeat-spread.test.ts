import t from 'tap'
import { Heartbeat, heartbeatSlots, type Beating } from '../../../plugins/signaling/heartbeat.js'

/** A connection whose pings are counted; it answers (alive again) unless told not to. */
function fakeConnection (answers = true): Beating & { pings: number } {
  const conn = {
    alive: true,
    heartbeatSlot: -1,
    pings: 0,
    socket: { ping: () => { conn.pings++; if (answers) conn.alive = true } }
  }
  return conn
}

/** A heartbeat whose timer is ticked by the test. */
function manualHeartbeat (intervalMs: number, onDead: (conn: Beating) => void): { heartbeat: Heartbeat, tick: () => void, everyMs: number } {
  let tick = (): void => {}
  let everyMs = 0
  const heartbeat = new Heartbeat(intervalMs, onDead, (fn, ms) => { tick = fn; everyMs = ms; return () => {} })
  return { heartbeat, tick: () => tick(), everyMs }
}

t.test('the interval is cut into ticks of about 50 ms', async (t) => {
  t.equal(heartbeatSlots(15_000), 300, 'the default 15 s: 300 ticks')
  t.equal(heartbeatSlots(100), 2, 'a short interval: few ticks')
  t.equal(heartbeatSlots(10), 1, 'never fewer than one')
  t.equal(heartbeatSlots(300_000), 512, 'a long interval: capped')
  t.equal(manualHeartbeat(15_000, () => {}).everyMs, 50)
})

t.test('10,000 sockets: each tick pings at most 34 of them, and every socket once per interval', async (t) => {
  const { heartbeat, tick } = manualHeartbeat(15_000, () => t.fail('nobody is dead'))
  const conns = Array.from({ length: 10_000 }, () => fakeConnection())
  for (const conn of conns) heartbeat.add(conn)
  let most = 0
  for (let i = 0; i < heartbeatSlots(15_000); i++) {
    const before = conns.reduce((sum, c) => sum + c.pings, 0)
    tick()
    most = Math.max(most, conns.reduce((sum, c) => sum + c.pings, 0) - before)
  }
  t.equal(most, 34, 'the largest tick')
  t.ok(conns.every((c) => c.pings === 1), 'one ping each per interval')
})

t.test('a socket that left its ping unanswered is dead at its next tick, one interval later', async (t) => {
  const dead: Beating[] = []
  const { heartbeat, tick } = manualHeartbeat(200, (conn) => dead.push(conn))
  const silent = fakeConnection(false)
  const healthy = fakeConnection()
  heartbeat.add(silent)
  heartbeat.add(healthy)
  const slots = heartbeatSlots(200)
  for (let i = 0; i < slots; i++) tick()
  t.same([silent.pings, healthy.pings, dead.length], [1, 1, 0], 'one interval: pinged, not yet dead')
  for (let i = 0; i < slots; i++) tick()
  t.same(dead, [silent], 'the next interval: cut off')
  t.equal(healthy.pings, 2, 'the healthy one is pinged again')
  for (let i = 0; i < slots; i++) tick()
  t.equal(silent.pings, 1, 'a dead socket is no longer pinged')
  heartbeat.remove(healthy)
  for (let i = 0; i < slots; i++) tick()
  t.equal(healthy.pings, 3, 'a removed socket is no longer pinged')
})

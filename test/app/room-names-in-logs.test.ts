import t from 'tap'
import { createHmac } from 'node:crypto'
import { signalingServerWithLogs } from '../helpers/signaling-harness.js'
import { WsPeer, until } from '../helpers/ws-peer.js'
import { labelRoomPath, roomLabel } from '../../src/room-label.js'

// LOG_ROOM_NAMES (issue 12): a room name such as `dr-smith-jane-doe` identifies a patient, and `meta`
// carries display names. Real traffic through a real instance, every line of the application log and
// the audit stream captured at trace level.
const SECRET = 'log-room-names-secret-0123456789abcdef'
const ROOMS = ['dr-smith-jane-doe', 'clinic-42/a']
const META_NAME = 'Jane-Doe-Displayname-Marker'

/** Everything a day of calls writes about rooms: joins, refusals, leaves, a drop and resume, an expiry. */
async function traffic (h: Awaited<ReturnType<typeof signalingServerWithLogs>>): Promise<void> {
  const [room, other] = ROOMS as [string, string]
  const doctor = await h.connect({ sub: 'doctor' })
  doctor.send({ type: 'join', room, meta: { displayName: META_NAME } })
  await doctor.next('joined')
  const patient = await h.joined('patient', room)
  await doctor.next('peer-joined')
  // Refused: the room is full (capacity 2), a message to someone outside, a room never joined.
  const third = await h.connect('nurse')
  third.send({ type: 'join', id: 'full', room, meta: { displayName: META_NAME } })
  t.equal((await third.errorFor('full')).code, 'SWB_ROOM_FULL')
  third.send({ type: 'message', id: 'outside', room, data: 'x' })
  await third.errorFor('outside')
  third.send({ type: 'join', room: other })
  await third.next('joined')
  third.send({ type: 'leave', room: other })
  await third.next('left')
  doctor.send({ type: 'message', room, data: 'hello' })
  await patient.next('message')
  // A drop, a resume, and a goodbye (the session ends).
  patient.drop()
  await until(() => !h.app.signaling.hub.connections.has(patient.peerId), 'the drop to be noticed')
  const back = h.track(await WsPeer.resume(h.base, await h.token('patient'), patient))
  t.equal(back.welcome.resumed, true)
  back.close(1000)
  await doctor.next('peer-left')
  // An operator's request naming the room in its path (the admin API's shape) is logged too.
  await fetch(`${h.base}/v1/admin/rooms/${encodeURIComponent(room)}`)
  await doctor.sync()
}

t.test('LOG_ROOM_NAMES=hash: no room name and no meta in any log line, and one room\'s lines still correlate', async (t) => {
  const h = await signalingServerWithLogs(t, { LOG_LEVEL: 'trace', AUDIT_LOG_LEVEL: 'info', ROOM_CAPACITY: 2, LOG_ROOM_NAMES: 'hash', LOG_ROOM_NAMES_SECRET: SECRET })
  await traffic(h)
  const text = h.logs.text()
  for (const name of ROOMS) {
    for (const form of [name, encodeURIComponent(name), JSON.stringify(name).slice(1, -1)]) t.notOk(text.includes(form), `"${form}" is in no line`)
  }
  t.notOk(text.includes(META_NAME), 'meta is in no line')

  // The label an operator computes for a room they know: HMAC-SHA256 with the secret, base64url, 16 characters.
  const expected = (room: string): string => 'h:' + createHmac('sha256', SECRET).update(room).digest('base64url').slice(0, 16)
  const [room, other] = ROOMS.map(expected) as [string, string]
  const lines = h.logs.lines as Array<Record<string, unknown>>
  const joins = lines.filter((l) => l.msg === 'joined room' && l.room === room)
  t.equal(joins.length, 2, 'both joins of the room are logged with its label')
  t.ok(lines.some((l) => l.msg === 'left room' && l.room === other), 'and a leave')
  const audited = (label: string): string[] => [...new Set(lines.filter((l) => l.audit === true && l.room === label).map((l) => String(l.event)))].sort()
  t.same(audited(room), ['room.join'], 'the audit stream uses the same label')
  t.same(audited(other), ['room.join', 'room.leave'], 'and another for another room')
  const url = `/v1/admin/rooms/${encodeURIComponent(room)}`
  await until(() => h.logs.lines.some((l) => (l.req as { url?: string } | undefined)?.url === url), 'the request line with the labelled URL')
})

t.test('LOG_ROOM_NAMES=plain (the default) logs room names as they are', async (t) => {
  const h = await signalingServerWithLogs(t, { LOG_LEVEL: 'trace', AUDIT_LOG_LEVEL: 'info', ROOM_CAPACITY: 2 })
  await traffic(h)
  const text = h.logs.text()
  for (const name of ROOMS) t.ok(text.includes(JSON.stringify(name)), `"${name}" is logged`)
  t.notOk(text.includes(META_NAME), 'meta is in no line, in either mode')
})

t.test('without LOG_ROOM_NAMES_SECRET a random key still hides names, and labels match within the process', async (t) => {
  const a = roomLabel('hash', undefined)
  const b = roomLabel('hash', undefined)
  t.equal(a.keyed, false)
  t.equal(a.label('x'), a.label('x'), 'stable within one process')
  t.not(a.label('x'), b.label('x'), 'a different key elsewhere')
  t.match(a.label('dr-smith'), /^h:[A-Za-z0-9_-]{16}$/)
  t.equal(labelRoomPath('/v1/admin/rooms/clinic-42%2Fa/peers/p1?x=1', (r) => `<${r}>`), `/v1/admin/rooms/${encodeURIComponent('<clinic-42/a>')}/peers/p1?x=1`)
  t.equal(labelRoomPath('/v1/admin/stats', (r) => `<${r}>`), '/v1/admin/stats', 'other paths untouched')
  t.equal(labelRoomPath('/v1/admin/rooms/%E0%A4%A', (r) => `<${r}>`), `/v1/admin/rooms/${encodeURIComponent('<%E0%A4%A>')}`, 'a malformed escape is labelled as it is')
})

import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signalingServerWithLogs, pair } from '../../helpers/signaling-harness.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'
import { TEST_JWT_SECRET } from '../../helpers/config.js'

const TURN_SECRET = 'audit-test-turn-secret-0123456789'

t.test('security events reach the audit stream with ids only; no content or secret reaches any log line', async (t) => {
  // LOG_LEVEL warn: the audit stream keeps its own level (info), so only audit lines and warnings remain.
  const h = await signalingServerWithLogs(t, { LOG_LEVEL: 'warn', AUDIT_LOG_LEVEL: 'info', TURN_SECRET })
  const token = await signTestToken({ sub: 'doctor', rooms: [{ room: 'consult-7', role: 'host' }, 'lobby'] })
  const [a, b] = await pair(h, 'consult-7', [{ sub: 'doctor', rooms: [{ room: 'consult-7', role: 'host' }] }, 'patient'])
  const sdp = 'v=0\r\ns=AUDIT-SDP-MARKER\r\na=ice-pwd:AUDITICEPWD'
  const candidate = 'candidate:1 1 udp 2122260223 192.0.2.55 50000 typ host AUDIT-CAND-MARKER'
  a.send({ type: 'offer', room: 'consult-7', to: b.peerId, sdp })
  await b.next('offer')
  b.send({ type: 'candidate', room: 'consult-7', to: a.peerId, candidate: { candidate, sdpMid: '0' } })
  await a.next('candidate')
  a.send({ type: 'join', id: 'j1', room: 'forbidden-room' })
  t.equal((await a.errorFor('j1')).code, 'SWB_ROOM_FORBIDDEN')

  const res = await fetch(`${h.base}/v1/turn/credentials`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  const body = await res.json() as { iceServers: Array<{ username?: string, credential?: string }> }
  const turnPassword = body.iceServers.find((s) => s.credential !== undefined)?.credential
  t.ok(turnPassword, 'a TURN password was issued')
  t.equal((await WsPeer.refusal(h.base, `${token.slice(0, -6)}FORGED`)).status, 401)

  a.send({ type: 'leave', room: 'consult-7' })
  await a.next('left')
  a.close(1000)
  await until(() => h.logs.lines.some((l) => l.event === 'session.end'), 'session.end audit event')

  const audit = h.logs.lines.filter((l) => l.audit === true)
  const event = (name: string): Record<string, unknown> | undefined => audit.find((l) => l.event === name)
  t.match(event('signal.connect'), { userId: 'doctor', peerId: a.peerId, resumed: false })
  t.match(event('room.join'), { userId: 'doctor', peerId: a.peerId, room: 'consult-7', role: 'host' })
  t.match(event('message.refused'), { userId: 'doctor', peerId: a.peerId, code: 'SWB_ROOM_FORBIDDEN' })
  t.match(event('turn.issued'), { userId: 'doctor', provider: 'hmac' })
  t.match(event('auth.failure'), { code: 'SWB_AUTH_BAD_SIGNATURE' })
  t.match(event('room.leave'), { userId: 'doctor', peerId: a.peerId, room: 'consult-7' })
  t.match(event('signal.disconnect'), { userId: 'doctor', peerId: a.peerId, closeCode: 1000 })
  t.match(event('session.end'), { peerId: a.peerId, reason: 'left' })
  t.notOk(h.logs.lines.some((l) => l.audit !== true && (l.level as number) < 40), 'LOG_LEVEL=warn still holds for the app log')

  const text = h.logs.text()
  for (const secret of [sdp, 'AUDIT-SDP-MARKER', 'AUDITICEPWD', 'AUDIT-CAND-MARKER', token, token.split('.')[2] ?? '', turnPassword ?? '',
    TURN_SECRET, TEST_JWT_SECRET, a.welcome.resumeToken as string]) {
    t.notOk(text.includes(secret), `never logged: ${secret.slice(0, 12)}…`)
  }
})

t.test('AUDIT_LOG_FILE sends audit events to their own file; AUDIT_LOG_LEVEL=silent turns them off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-audit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'audit.log')
  const h = await signalingServerWithLogs(t, { AUDIT_LOG_FILE: file, AUDIT_LOG_LEVEL: 'info' })
  const a = await h.joined('nurse', 'ward-3')
  a.close(1000)
  await until(() => h.logs.lines.some((l) => l.msg === 'session ended'), 'session ended')
  await h.app.close()
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(lines.find((l) => l.event === 'room.join'), { audit: true, userId: 'nurse', room: 'ward-3' })
  t.notOk(h.logs.lines.some((l) => l.audit === true), 'nothing of the audit stream in the app log')

  const quiet = await signalingServerWithLogs(t, { AUDIT_LOG_LEVEL: 'silent' })
  const q = await quiet.joined('nurse', 'ward-4')
  q.close(1000)
  await until(() => quiet.logs.lines.some((l) => l.msg === 'session ended'), 'session ended')
  t.notOk(quiet.logs.lines.some((l) => l.audit === true), 'no audit events when silent')
})

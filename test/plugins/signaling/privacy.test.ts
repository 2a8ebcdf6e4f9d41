import t from 'tap'
import { signalingServerWithLogs } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

t.test('at LOG_LEVEL trace, no SDP, candidate, app data, meta, token or resume token reaches the logs', async (t) => {
  const h = await signalingServerWithLogs(t, { LOG_LEVEL: 'trace', RESUME_GRACE_SECONDS: 3600, WS_MAX_MESSAGE_BYTES: 4096 })
  const secrets: string[] = []
  const mark = (s: string): string => { secrets.push(s); return s }

  const tokenA = mark(await h.token({ sub: 'doctor', name: 'Dr Alice' }))
  const tokenB = mark(await h.token('patient'))
  const tokenC = mark(await h.token('nurse'))
  // Each transport for the token: header, query, subprotocol.
  const a = h.track(await WsPeer.connect(h.base, tokenA))
  const b = h.track(await WsPeer.connect(h.base, undefined, { query: { access_token: tokenB } }))
  const c = h.track(await WsPeer.connect(h.base, undefined, { protocols: ['switchboard.v1', `bearer.${tokenC}`] }))
  for (const p of [a, b, c]) mark(p.welcome.resumeToken as string)

  a.send({ type: 'join', room: 'consult', meta: { displayName: mark('Patient-Zed-Secretname'), phone: mark('+44-7700-900123') } })
  await a.next('joined')
  b.send({ type: 'join', room: 'consult' })
  await b.next('joined')

  const offerSdp = mark('v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=OFFER-SDP-MARKER-7f3a\r\na=fingerprint:sha-256 AB:CD:EF:OFFER')
  const answerSdp = mark('v=0\r\ns=ANSWER-SDP-MARKER-91c2\r\na=ice-pwd:ANSWERICEPWD0123456789')
  const candidate = mark('candidate:842163049 1 udp 1677729535 203.0.113.77 61234 typ srflx raddr 10.1.2.3 rport 61234')
  const ufrag = mark('UFRAGMARKER')
  const appData = mark('the patient reports chest pain MARKER-APPDATA')

  a.send({ type: 'offer', room: 'consult', to: b.peerId, sdp: offerSdp })
  await b.next('offer')
  b.send({ type: 'answer', room: 'consult', to: a.peerId, sdp: answerSdp })
  await a.next('answer')
  a.send({ type: 'candidate', room: 'consult', to: b.peerId, candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: ufrag } })
  await b.next('candidate')
  b.send({ type: 'candidate', room: 'consult', to: a.peerId, candidate: null })
  await a.next('candidate')
  a.send({ type: 'message', room: 'consult', data: { note: appData } })
  await b.next('message')

  // Refused messages carrying the same kinds of content.
  a.send({ type: 'offer', id: 'r1', room: 'consult', to: c.peerId, sdp: mark('REFUSED-SDP-MARKER') })
  await a.errorFor('r1')
  a.send({ type: 'offer', id: 'r2', room: 'consult', to: b.peerId, sdp: mark('INVALID-SDP-MARKER'), extra: mark('EXTRA-FIELD-MARKER') })
  await a.errorFor('r2')
  a.sendRaw(`{"type":"offer","sdp":"${mark('MALFORMED-SDP-MARKER')}"`)
  await a.waitCount('error', 3)
  a.send({ type: 'message', room: 'consult', data: mark('TOO-LARGE-MARKER') + 'x'.repeat(5000) })
  await a.waitCount('error', 4)
  a.send({ type: 'refresh', id: 'bad-refresh', token: mark('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.BADREFRESHSIG') })
  await a.errorFor('bad-refresh')
  a.send({ type: 'refresh', token: mark(await h.token({ sub: 'doctor', name: 'Dr Alice Refreshed' })) })
  await a.next('refreshed')

  // A refused upgrade with a token that is almost right.
  const forged = mark(`${tokenA.split('.').slice(0, 2).join('.')}.FORGEDSIGNATUREMARKER`)
  t.equal((await WsPeer.refusal(h.base, forged)).status, 401)
  t.equal((await WsPeer.refusal(h.base, undefined, { query: { access_token: forged } })).status, 401)

  // A drop and a resume (the resume token travels in the query).
  b.drop()
  await b.closed
  await until(() => !h.app.signaling.hub.connections.has(b.peerId), 'the drop to be noticed')
  const resumed = h.track(await WsPeer.resume(h.base, tokenB, b))
  t.equal(resumed.welcome.resumed, true)
  mark(resumed.welcome.resumeToken as string)
  resumed.close(1000)
  await resumed.closed
  await a.next('peer-left')

  const text = h.logs.text()
  t.ok(h.logs.lines.length > 10, `the exchange was logged (${h.logs.lines.length} lines)`)
  t.ok(text.includes('peer connected') && text.includes('joined room') && text.includes('peer resumed'), 'with the events')
  t.ok(h.logs.lines.some((l) => l.level === 10 || l.level === 20), 'at debug/trace level too')
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `not in the logs: ${secret.slice(0, 24)}…`)
    // Also no fragment long enough to matter (e.g. a token's signature, an SDP line).
    for (const part of secret.split(/[.\r\n]/).filter((p) => p.length >= 16)) {
      t.notOk(text.includes(part), `no fragment of it either: ${part.slice(0, 24)}…`)
    }
  }
  for (const marker of ['203.0.113.77', '10.1.2.3', 'ANSWERICEPWD', 'fingerprint', 'Secretname', 'chest pain', 'Dr Alice']) {
    t.notOk(text.includes(marker), `no ${marker}`)
  }
})

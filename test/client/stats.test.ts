import t, { type Test } from 'tap'
import { Value } from '@sinclair/typebox/value'
import { CandidateType as CandidateTypeSchema, StatsMessage } from '../../plugins/signaling/messages.js'
import { parseClientMessage } from '../../plugins/signaling/parse.js'
import { callQualityReport, MIN_STATS_INTERVAL_MS, STATS_LIMITS, type CallQualityReport, type StatsSource } from '../../client/index.js'
import { chromiumCall, firefoxCall, sampleAt, type Sample, type StatsMap } from './stats-fixtures.js'
import { connectedClient, dropServerSide, makeClient, startServer, until } from './helpers.js'
import { signTestToken } from '../helpers/tokens.js'

/** The report must be a message the server accepts: its schema, and its own parser. */
function assertAccepted (t: Test, report: CallQualityReport): void {
  const message = { type: 'stats', ...report }
  t.ok(Value.Check(StatsMessage, message), `valid stats message: ${JSON.stringify(message)}`)
  const parsed = parseClientMessage(JSON.stringify(message))
  t.ok(parsed.ok, 'accepted by the server\'s parser')
}

const withLoss = (seconds: number, audioLost: number, videoLost: number): Sample => {
  const s = sampleAt(seconds)
  return { ...s, audio: { ...s.audio, packetsLost: audioLost }, video: { ...s.video, packetsLost: videoLost } }
}

t.test('Chromium, relayed call: candidate type, RTT and worst jitter; loss since the streams began', async (t) => {
  const { report, snapshot } = callQualityReport(chromiumCall(withLoss(30, 15, 27)))
  t.same(report, {
    candidateType: 'relay',
    rttMs: 52,
    jitterMs: 12.1, // video (12.1 ms) is worse than audio (4 ms)
    // 42 lost of 42 + 4200 expected; remote-inbound-rtp (the peer's view of our sending) does not count.
    packetLoss: 42 / 4242
  })
  t.notOk('bitrateBps' in report, 'no bitrate without a previous snapshot: there is no interval yet')
  t.same(snapshot, {
    inbound: { IT01A3360384812: { packetsLost: 15, packetsReceived: 1500 }, IT01V1290634102: { packetsLost: 27, packetsReceived: 2700 } },
    outbound: { OT01A2186393224: { bytesSent: 120_000, timestamp: sampleAt(30).timestamp }, OT01V4077152231: { bytesSent: 2_250_000, timestamp: sampleAt(30).timestamp } }
  })
  t.same(JSON.parse(JSON.stringify(snapshot)), snapshot, 'the snapshot is plain data')
  assertAccepted(t, report)
})

t.test('packet loss and bitrate over the interval since the previous snapshot', async (t) => {
  const first = callQualityReport(chromiumCall(withLoss(30, 10, 0)))
  const second = callQualityReport(chromiumCall(withLoss(35, 20, 40)), first.snapshot)
  // Audio: 10 lost, 250 received; video: 40 lost, 450 received, in those 5 s.
  t.equal(second.report.packetLoss, 50 / (50 + 700))
  // Audio 20 000 B and video 375 000 B in 5 s: 32 kb/s + 600 kb/s.
  t.equal(second.report.bitrateBps, 632_000)
  t.equal(second.report.candidateType, 'relay')
  assertAccepted(t, second.report)

  const quiet = callQualityReport(chromiumCall(withLoss(35, 20, 40)), second.snapshot)
  t.notOk('packetLoss' in quiet.report, 'no packet expected in the interval: no loss figure (not 0, not NaN)')
  t.notOk('bitrateBps' in quiet.report, 'the same timestamp twice: no interval, no bitrate')

  const clean = callQualityReport(chromiumCall(sampleAt(40)), second.snapshot)
  t.equal(clean.report.packetLoss, 0, 'counters only grew in received packets: 0 loss')
})

t.test('Chromium, direct call: host pair', async (t) => {
  const { report } = callQualityReport(chromiumCall(sampleAt(10), { kind: 'host' }))
  t.equal(report.candidateType, 'host')
  t.equal(report.rttMs, 52)
  assertAccepted(t, report)
})

t.test('every candidate type of the schema is reported as such', async (t) => {
  const literals = CandidateTypeSchema.anyOf.map((s: { const: string }) => s.const)
  t.same(literals, ['host', 'srflx', 'prflx', 'relay', 'unknown'])
  for (const kind of ['host', 'srflx', 'prflx', 'relay'] as const) {
    t.equal(callQualityReport(chromiumCall(sampleAt(10), { kind })).report.candidateType, kind)
  }
})

t.test('no selected pair yet (ICE checking): unknown, and no RTT from pairs that are not selected', async (t) => {
  const { report } = callQualityReport(chromiumCall(sampleAt(1, { rtt: undefined }), { selected: false }))
  t.equal(report.candidateType, 'unknown')
  t.notOk('rttMs' in report, 'the failed/waiting pair has an RTT but is not the selected one')
  assertAccepted(t, report)
  t.same(callQualityReport(new Map()).report, { candidateType: 'unknown' }, 'an empty report (a new RTCPeerConnection)')
})

t.test('Firefox: no transport stats, the pair marked selected is used', async (t) => {
  const first = callQualityReport(firefoxCall(sampleAt(20)))
  t.same(first.report, { candidateType: 'srflx', rttMs: 52, jitterMs: 4, packetLoss: 0 })
  const second = callQualityReport(firefoxCall(sampleAt(25)), first.snapshot)
  t.equal(second.report.bitrateBps, 32_000)
  t.notOk('rttMs' in callQualityReport(firefoxCall(sampleAt(20, { rtt: undefined }))).report, 'no currentRoundTripTime: no rttMs')
})

t.test('without transport stats or `selected`: the nominated pair whose checks succeeded', async (t) => {
  const stats = firefoxCall(sampleAt(20), 'relay')
  for (const entry of stats.values()) if (entry.type === 'candidate-pair') delete entry.selected
  t.equal(callQualityReport(stats).report.candidateType, 'relay')
  for (const entry of stats.values()) if (entry.type === 'candidate-pair' && entry.nominated === true) entry.state = 'in-progress'
  t.equal(callQualityReport(stats).report.candidateType, 'unknown', 'nominated but not succeeded is not selected')
})

t.test('nonsense in the stats is left out, so the server never refuses a report', async (t) => {
  const stats: StatsMap = chromiumCall(sampleAt(30))
  const get = (id: string): Record<string, unknown> => stats.get(id) as Record<string, unknown>
  get('CPQf3B7kxq_l3+Rwd8M').currentRoundTripTime = 120 // two minutes: beyond the server's bound
  get('IT01A3360384812').jitter = -1
  get('IT01V1290634102').jitter = Number.NaN
  get('IQf3B7kxq').candidateType = 'satellite'
  stats.set('junk', null as never)
  const { report } = callQualityReport(stats)
  t.same(report, { candidateType: 'unknown', packetLoss: 0 })
  assertAccepted(t, report)

  // A transport naming a pair that is not in the report: fall back to the pairs themselves.
  const dangling = chromiumCall(sampleAt(30))
  ;(dangling.get('T01') as Record<string, unknown>).selectedCandidatePairId = 'CPgone'
  t.equal(callQualityReport(dangling).report.candidateType, 'relay', 'the nominated, succeeded pair')
})

t.test('counters that go backwards start a new interval instead of a negative rate', async (t) => {
  const first = callQualityReport(chromiumCall(withLoss(30, 10, 10)))
  // A renegotiation reused the ids for new streams: every counter restarted.
  const restarted = callQualityReport(chromiumCall(withLoss(2, 1, 1)), first.snapshot)
  t.equal(restarted.report.packetLoss, 2 / (2 + 100 + 180), 'the new streams counted from zero')
  t.notOk('bitrateBps' in restarted.report, 'bytesSent went down: no rate for that interval')
  t.ok(restarted.report.packetLoss! >= 0 && restarted.report.packetLoss! <= 1)
})

t.test('the client\'s bounds are the server\'s', async (t) => {
  t.equal(STATS_LIMITS.rttMs, StatsMessage.properties.rttMs.maximum)
  t.equal(STATS_LIMITS.jitterMs, StatsMessage.properties.jitterMs.maximum)
  t.equal(STATS_LIMITS.bitrateBps, StatsMessage.properties.bitrateBps.maximum)
})

// ---- with a real server ---------------------------------------------------------------------

async function metrics (base: string): Promise<string> {
  const response = await fetch(`${base}/metrics`)
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`)
  return response.text()
}

/** The value of one sample line, 0 when absent. */
function sample (text: string, name: string, candidateType: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{candidate_type="${candidateType}"} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

async function eventually (what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

t.test('monitorCall: a relayed call shows up in the server\'s metrics, by candidate type only', async (t) => {
  const { base } = await startServer(t)
  const client = await connectedClient(t, base, 'doctor-7')
  await client.join('consult-stats')
  let calls = 0
  // The only fake: what a browser's RTCPeerConnection would answer, 5 s of call per sample.
  const pc: StatsSource = {
    connectionState: 'connected',
    async getStats () {
      calls++
      if (calls === 1) throw new Error('InvalidStateError') // one failing sample must not end the monitoring
      return chromiumCall(withLoss(5 * calls, calls, 0))
    }
  }
  const errors: unknown[] = []
  client.on('error', (e) => errors.push(e))
  const stop = client.monitorCall(pc, MIN_STATS_INTERVAL_MS)
  await eventually('two relay reports', async () => sample(await metrics(base), 'switchboard_call_quality_reports_total', 'relay') >= 2)
  stop()
  const text = await metrics(base)
  t.ok(sample(text, 'switchboard_call_rtt_seconds_count', 'relay') >= 2, 'RTT observed')
  t.ok(sample(text, 'switchboard_call_rtt_seconds_sum', 'relay') > 0.1, 'in seconds (52 ms each)')
  t.ok(sample(text, 'switchboard_call_jitter_seconds_count', 'relay') >= 2, 'jitter observed')
  t.ok(sample(text, 'switchboard_call_packet_loss_ratio_count', 'relay') >= 2, 'packet loss observed')
  t.ok(sample(text, 'switchboard_call_bitrate_bps_count', 'relay') >= 1, 'bitrate observed from the second report on')
  t.equal(sample(text, 'switchboard_call_quality_reports_total', 'host'), 0)
  for (const secret of ['doctor-7', 'consult-stats', client.peerId!]) t.notMatch(text, secret, `no ${secret} in the metrics`)
  t.same(errors, [], 'no report was refused')

  const stoppedAt = calls
  await new Promise((resolve) => setTimeout(resolve, MIN_STATS_INTERVAL_MS * 3))
  t.equal(calls, stoppedAt, 'stop() stops sampling')
})

t.test('reportStats: sent when connected, dropped (not queued) while reconnecting; refused values come back as errors', async (t) => {
  const { app, base } = await startServer(t)
  const client = makeClient(t, base, { token: await signTestToken({ sub: 'nurse' }), reconnect: { initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } })
  t.equal(client.reportStats({ candidateType: 'host' }), undefined, 'before connect(): dropped, no throw')
  await client.connect()

  dropServerSide(app, client.peerId)
  await until(() => client.state === 'reconnecting', 3000, 'the client to notice the drop')
  t.equal(client.reportStats({ candidateType: 'host', rttMs: 10 }), undefined, 'dropped while reconnecting')
  t.equal(client.queued, 0, 'nothing queued')
  await client.waitFor('resumed', { timeoutMs: 3000 })
  await client.ping() // the server handles a connection's messages in order: anything sent before is counted
  t.equal(sample(await metrics(base), 'switchboard_call_quality_reports_total', 'host'), 0, 'the dropped report never reached the server')

  // Only the message's fields go out: a richer object (e.g. the app's own record) is not refused.
  const id = client.reportStats({ candidateType: 'host', rttMs: 3, roomName: 'leaks' } as CallQualityReport)
  t.type(id, 'string')
  await client.ping()
  t.equal(sample(await metrics(base), 'switchboard_call_quality_reports_total', 'host'), 1)

  const refused = client.waitFor('error', { timeoutMs: 3000 })
  const badId = client.reportStats({ candidateType: 'host', packetLoss: 2 })
  t.match(await refused, { code: 'SWB_INVALID_MESSAGE', ref: badId }, 'the server refuses a loss above 1, naming the message')

  await client.close()
  t.equal(client.reportStats({ candidateType: 'host' }), undefined, 'after close(): dropped, no throw')
})

t.test('monitorCall: bad arguments, and it stops with the connection or the client', async (t) => {
  const { base } = await startServer(t)
  const client = await connectedClient(t, base, 'patient')
  const pc = { connectionState: 'connected', calls: 0, async getStats () { this.calls++; return chromiumCall(sampleAt(5 * this.calls)) } }
  t.throws(() => client.monitorCall(pc, 10), RangeError, 'faster than MIN_STATS_INTERVAL_MS')
  t.throws(() => client.monitorCall(pc, Number.NaN), RangeError)
  t.throws(() => client.monitorCall({} as StatsSource), TypeError, 'not a peer connection')

  // A closed RTCPeerConnection ends its monitoring by itself.
  client.monitorCall(pc, MIN_STATS_INTERVAL_MS)
  await until(() => pc.calls >= 1, 3000, 'a first sample')
  pc.connectionState = 'closed'
  const atClose = pc.calls
  await new Promise((resolve) => setTimeout(resolve, MIN_STATS_INTERVAL_MS * 3))
  t.equal(pc.calls, atClose, 'no getStats() on a closed connection')

  // close() stops every monitor.
  const other = { calls: 0, async getStats () { this.calls++; return new Map() } }
  client.monitorCall(other, MIN_STATS_INTERVAL_MS)
  await until(() => other.calls >= 1, 3000, 'a first sample')
  await client.close()
  const atClientClose = other.calls
  await new Promise((resolve) => setTimeout(resolve, MIN_STATS_INTERVAL_MS * 3))
  t.equal(other.calls, atClientClose, 'closing the client stopped it')
  t.throws(() => client.monitorCall(other), { code: 'SWB_CLIENT_CLOSED' })
})

import type { ClientMessageOf } from './messages.js'
import { CANDIDATE_TYPES } from './protocol.js'

/**
 * Call-quality reports: RTCPeerConnection.getStats() turned into the fields of a `stats` message.
 * Pure and structural (no DOM types at run time), so it is unit-tested in Node with recorded reports.
 */

/** The fields of a `stats` message: what the client reports, without envelope. */
export type CallQualityReport = Omit<ClientMessageOf<'stats'>, 'type' | 'id'>
export type CandidateType = CallQualityReport['candidateType']

/**
 * What getStats() resolves with, as far as this module reads it: an RTCStatsReport or a Map of stats
 * entries. forEach rather than values(): TypeScript's DOM lib without DOM.Iterable gives RTCStatsReport nothing else.
 */
export interface StatsReportLike {
  forEach (callbackfn: (value: unknown, key: string) => void): void
}

/** An RTCPeerConnection, or anything with its getStats(). */
export interface StatsSource {
  getStats (): Promise<StatsReportLike>
  /** When present and 'closed', monitoring stops by itself (getStats() rejects on a closed connection). */
  readonly connectionState?: string
}

/**
 * Running counters from the previous report, per RTP stream id, so the next report covers only the
 * interval in between. Plain data: it may be kept, copied or serialized.
 */
export interface StatsSnapshot {
  inbound: Record<string, { packetsLost: number, packetsReceived: number }>
  outbound: Record<string, { bytesSent: number, timestamp: number }>
}

/** The server's bounds (plugins/signaling/messages.ts StatsMessage): a value outside them is left out, never clamped. */
export const STATS_LIMITS = { rttMs: 60_000, jitterMs: 60_000, bitrateBps: 1e10 } as const
const CANDIDATE_TYPE_SET: ReadonlySet<string> = new Set<string>(CANDIDATE_TYPES)

type Entry = Record<string, unknown>

const finite = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined
const nonNegative = (value: unknown): number | undefined => {
  const n = finite(value)
  return n !== undefined && n >= 0 ? n : undefined
}
/** Seconds (as getStats gives them) to ms, to 0.01 ms; undefined when missing or outside [0, max]. */
function secondsToMs (seconds: unknown, max: number): number | undefined {
  const s = nonNegative(seconds)
  if (s === undefined) return undefined
  const ms = Math.round(s * 100_000) / 100
  return ms <= max ? ms : undefined
}

/**
 * The selected ICE candidate pair: the one a transport names (Chromium, Safari), else a pair marked
 * `selected` (Firefox, which has no transport stats), else a nominated pair whose checks succeeded.
 */
function selectedPair (byId: ReadonlyMap<string, Entry>, entries: readonly Entry[]): Entry | undefined {
  for (const entry of entries) {
    if (entry.type !== 'transport' || typeof entry.selectedCandidatePairId !== 'string') continue
    const pair = byId.get(entry.selectedCandidatePairId)
    if (pair?.type === 'candidate-pair') return pair
  }
  const pairs = entries.filter((e) => e.type === 'candidate-pair')
  return pairs.find((p) => p.selected === true) ?? pairs.find((p) => p.nominated === true && p.state === 'succeeded')
}

/**
 * One call-quality report from a getStats() result, and the snapshot the next call needs.
 *
 * - candidateType: of the local candidate of the selected pair; 'unknown' while none is selected.
 * - rttMs: the selected pair's currentRoundTripTime.
 * - jitterMs: the worst inbound RTP stream's jitter.
 * - packetLoss: inbound packets lost / (lost + received) over all streams since `previous` (since each
 *   stream began when there is no previous snapshot); left out when no packet was expected.
 * - bitrateBps: outbound RTP bytes sent since `previous`, per second; needs `previous`.
 *
 * A field whose source is missing or nonsensical (negative, NaN, beyond the server's bounds) is left out,
 * so the server never refuses a report.
 */
export function callQualityReport (stats: StatsReportLike, previous?: StatsSnapshot): { report: CallQualityReport, snapshot: StatsSnapshot } {
  const byId = new Map<string, Entry>()
  const entries: Entry[] = []
  stats.forEach((value, key) => {
    if (typeof value !== 'object' || value === null) return
    const entry = value as Entry
    entries.push(entry)
    byId.set(typeof entry.id === 'string' ? entry.id : key, entry)
  })

  const report: CallQualityReport = { candidateType: 'unknown' }
  const pair = selectedPair(byId, entries)
  if (pair !== undefined) {
    const local = typeof pair.localCandidateId === 'string' ? byId.get(pair.localCandidateId) : undefined
    const type = local?.candidateType
    if (typeof type === 'string' && CANDIDATE_TYPE_SET.has(type)) report.candidateType = type as CandidateType
    const rttMs = secondsToMs(pair.currentRoundTripTime, STATS_LIMITS.rttMs)
    if (rttMs !== undefined) report.rttMs = rttMs
  }

  const snapshot: StatsSnapshot = { inbound: {}, outbound: {} }
  let jitterMs: number | undefined
  let lost = 0
  let received = 0
  let bitsPerSecond = 0
  let rateStreams = 0
  for (const entry of entries) {
    const id = typeof entry.id === 'string' ? entry.id : undefined
    if (entry.type === 'inbound-rtp') {
      const jitter = secondsToMs(entry.jitter, STATS_LIMITS.jitterMs)
      if (jitter !== undefined) jitterMs = Math.max(jitterMs ?? 0, jitter)
      // packetsLost is signed (duplicates can outnumber losses); packetsReceived is not.
      const packetsLost = finite(entry.packetsLost)
      const packetsReceived = nonNegative(entry.packetsReceived)
      if (id === undefined || packetsLost === undefined || packetsReceived === undefined) continue
      snapshot.inbound[id] = { packetsLost, packetsReceived }
      let before = previous?.inbound[id]
      // Counters that went backwards belong to a new stream reusing the id: count it from zero.
      if (before !== undefined && packetsReceived < before.packetsReceived) before = undefined
      lost += packetsLost - (before?.packetsLost ?? 0)
      received += packetsReceived - (before?.packetsReceived ?? 0)
    } else if (entry.type === 'outbound-rtp') {
      const bytesSent = nonNegative(entry.bytesSent)
      const timestamp = finite(entry.timestamp)
      if (id === undefined || bytesSent === undefined || timestamp === undefined) continue
      snapshot.outbound[id] = { bytesSent, timestamp }
      const before = previous?.outbound[id]
      if (before === undefined || timestamp <= before.timestamp || bytesSent < before.bytesSent) continue
      bitsPerSecond += (bytesSent - before.bytesSent) * 8 / ((timestamp - before.timestamp) / 1000)
      rateStreams++
    }
  }
  if (jitterMs !== undefined) report.jitterMs = jitterMs
  const expected = Math.max(lost, 0) + received
  if (expected > 0) report.packetLoss = Math.min(1, Math.max(0, lost) / expected)
  if (rateStreams > 0 && bitsPerSecond <= STATS_LIMITS.bitrateBps) report.bitrateBps = Math.round(bitsPerSecond)
  return { report, snapshot }
}

/** How often monitorCall() reports by default: often enough to see a call degrade, a trickle for the server. */
export const DEFAULT_STATS_INTERVAL_MS = 5000
/** Faster than this, reports would eat into the connection's message rate limit for nothing. */
export const MIN_STATS_INTERVAL_MS = 250

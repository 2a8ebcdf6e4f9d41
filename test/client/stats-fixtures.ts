/**
 * getStats() results shaped like the browsers' own: the ids, types and fields Chromium (M120+) reports for
 * a max-bundle call with audio, video and a data channel, and Firefox's variant without transport stats.
 * The numbers vary per sample so tests can follow a call over time; everything else is as recorded.
 */

export type StatsEntry = Record<string, unknown> & { id: string, type: string, timestamp: number }
export type StatsMap = Map<string, StatsEntry>

/** Report time (ms since the epoch, as Chromium gives it) and the running counters that change between samples. */
export interface Sample {
  timestamp: number
  /** currentRoundTripTime of the selected pair, in seconds. */
  rtt?: number
  audio: { jitter: number, packetsLost: number, packetsReceived: number, bytesSent: number }
  video: { jitter: number, packetsLost: number, packetsReceived: number, bytesSent: number }
}

export const T0 = 1732178855123.456

export function sampleAt (seconds: number, overrides: Partial<Sample> = {}): Sample {
  return {
    timestamp: T0 + seconds * 1000,
    rtt: 0.052,
    // Opus at ~50 packets/s, video at ~90 packets/s; ~32 kb/s and ~600 kb/s sent.
    audio: { jitter: 0.004, packetsLost: 0, packetsReceived: 50 * seconds, bytesSent: 4000 * seconds },
    video: { jitter: 0.0121, packetsLost: 0, packetsReceived: 90 * seconds, bytesSent: 75_000 * seconds },
    ...overrides
  }
}

function toMap (entries: StatsEntry[]): StatsMap {
  return new Map(entries.map((e) => [e.id, e]))
}

type Kind = 'host' | 'srflx' | 'prflx' | 'relay'

const ADDRESSES: Record<Kind, { address: string, port: number, priority: number, related?: { address: string, port: number } }> = {
  host: { address: '192.168.1.23', port: 53114, priority: 2122260223 },
  srflx: { address: '203.0.113.7', port: 46154, priority: 1686052607, related: { address: '192.168.1.23', port: 53114 } },
  prflx: { address: '203.0.113.7', port: 46160, priority: 1853824767 },
  relay: { address: '198.51.100.20', port: 24017, priority: 41885439, related: { address: '203.0.113.7', port: 46154 } }
}

function candidate (id: string, side: 'local' | 'remote', kind: Kind, timestamp: number): StatsEntry {
  const a = ADDRESSES[kind]
  return {
    id,
    type: `${side}-candidate`,
    timestamp,
    transportId: 'T01',
    isRemote: side === 'remote',
    address: side === 'local' ? a.address : a.address.replace(/\.\d+$/, '.99'),
    port: a.port,
    protocol: 'udp',
    candidateType: kind,
    priority: a.priority,
    foundation: '3145128520',
    ...(a.related && { relatedAddress: a.related.address, relatedPort: a.related.port }),
    usernameFragment: side === 'local' ? 'x7Yq' : 'EsXc',
    ...(side === 'local' && { networkAdapterType: 'ethernet', vpn: false }),
    ...(side === 'local' && kind === 'relay' && { url: 'turn:turn.example.com:3478?transport=udp', relayProtocol: 'udp' }),
    ...(side === 'local' && kind === 'srflx' && { url: 'stun:stun.example.com:3478' })
  }
}

function pair (id: string, local: string, remote: string, timestamp: number, extra: Record<string, unknown>): StatsEntry {
  return {
    id,
    type: 'candidate-pair',
    timestamp,
    transportId: 'T01',
    localCandidateId: local,
    remoteCandidateId: remote,
    packetsSent: 1843,
    packetsReceived: 1796,
    bytesSent: 1422841,
    bytesReceived: 1378003,
    totalRoundTripTime: 0.412,
    requestsReceived: 9,
    requestsSent: 1,
    responsesReceived: 9,
    responsesSent: 9,
    consentRequestsSent: 8,
    packetsDiscardedOnSend: 0,
    bytesDiscardedOnSend: 0,
    lastPacketReceivedTimestamp: timestamp - 3,
    lastPacketSentTimestamp: timestamp - 1,
    ...extra
  }
}

export interface ChromiumOptions {
  /** The local candidate type of the selected pair. */
  kind?: Kind
  /** false: ICE still checking, no pair selected yet. */
  selected?: boolean
}

/** Chromium's getStats() for a max-bundle call: one transport naming its selected pair. */
export function chromiumCall (s: Sample, options: ChromiumOptions = {}): StatsMap {
  const kind = options.kind ?? 'relay'
  const selected = options.selected ?? true
  const ts = s.timestamp
  const local = 'IQf3B7kxq'
  const remote = 'Il3+Rwd8M'
  const otherRemote = 'I0Pj8lqRn'
  const selectedPairId = `CP${local.slice(1)}_${remote.slice(1)}`
  return toMap([
    { id: 'AP', type: 'media-playout', timestamp: ts, kind: 'audio', synthesizedSamplesDuration: 0, synthesizedSamplesEvents: 0, totalSamplesDuration: 29.87, totalPlayoutDelay: 1433.76, totalSamplesCount: 1433760 },
    { id: 'CF3A:9B:07:5C:11:E4', type: 'certificate', timestamp: ts, fingerprint: '3A:9B:07:5C:11:E4:60:2D:9F:AA:31:C2:7E:05:B8:44:D1:6F:92:0C:7B:13:E5:A8:4F:66:29:B0:C3:1D:8E:74', fingerprintAlgorithm: 'sha-256', base64Certificate: 'MIIBFjCBvaADAgECAgkA...' },
    { id: 'CIT01_111_minptime=10;useinbandfec=1', type: 'codec', timestamp: ts, transportId: 'T01', payloadType: 111, mimeType: 'audio/opus', clockRate: 48000, channels: 2, sdpFmtpLine: 'minptime=10;useinbandfec=1' },
    { id: 'CIT01_96', type: 'codec', timestamp: ts, transportId: 'T01', payloadType: 96, mimeType: 'video/VP8', clockRate: 90000 },
    { id: 'COT01_111_minptime=10;useinbandfec=1', type: 'codec', timestamp: ts, transportId: 'T01', payloadType: 111, mimeType: 'audio/opus', clockRate: 48000, channels: 2, sdpFmtpLine: 'minptime=10;useinbandfec=1' },
    { id: 'COT01_96', type: 'codec', timestamp: ts, transportId: 'T01', payloadType: 96, mimeType: 'video/VP8', clockRate: 90000 },
    selected
      ? pair(selectedPairId, local, remote, ts, { state: 'succeeded', priority: 179616219446525950, nominated: true, writable: true, ...(s.rtt !== undefined && { currentRoundTripTime: s.rtt }), availableOutgoingBitrate: 1843200 })
      : pair(selectedPairId, local, remote, ts, { state: 'in-progress', priority: 179616219446525950, nominated: false, writable: false, requestsSent: 3, responsesReceived: 0, totalRoundTripTime: 0 }),
    // Another pair whose checks failed: never the selected one.
    pair(`CP${local.slice(1)}_${otherRemote.slice(1)}`, local, otherRemote, ts, { state: selected ? 'failed' : 'waiting', priority: 179616219446525440, nominated: false, writable: false, currentRoundTripTime: 0.9 }),
    { id: 'D1', type: 'data-channel', timestamp: ts, label: 'chat', protocol: '', dataChannelIdentifier: 0, state: 'open', messagesSent: 3, bytesSent: 142, messagesReceived: 3, bytesReceived: 139 },
    candidate(remote, 'remote', kind, ts),
    candidate(otherRemote, 'remote', 'host', ts),
    candidate(local, 'local', kind, ts),
    {
      id: 'IT01A3360384812', type: 'inbound-rtp', timestamp: ts, ssrc: 3360384812, kind: 'audio', transportId: 'T01', codecId: 'CIT01_111_minptime=10;useinbandfec=1',
      mid: '0', trackIdentifier: '8d0ba7ef-46c1-4bd6-bd8b-29a2ee21d4f8', remoteId: 'ROA3360384812', playoutId: 'AP',
      jitter: s.audio.jitter, packetsLost: s.audio.packetsLost, packetsReceived: s.audio.packetsReceived, packetsDiscarded: 0,
      bytesReceived: s.audio.packetsReceived * 80, headerBytesReceived: s.audio.packetsReceived * 12, lastPacketReceivedTimestamp: ts - 12,
      jitterBufferDelay: 71.232, jitterBufferTargetDelay: 72.96, jitterBufferMinimumDelay: 72.96, jitterBufferEmittedCount: 1425600,
      totalSamplesReceived: 1433760, concealedSamples: 8160, silentConcealedSamples: 0, concealmentEvents: 4, insertedSamplesForDeceleration: 1280,
      removedSamplesForAcceleration: 960, audioLevel: 0.0412, totalAudioEnergy: 0.0329, totalSamplesDuration: 29.88, fecPacketsReceived: 0, fecPacketsDiscarded: 0
    },
    {
      id: 'IT01V1290634102', type: 'inbound-rtp', timestamp: ts, ssrc: 1290634102, kind: 'video', transportId: 'T01', codecId: 'CIT01_96',
      mid: '1', trackIdentifier: 'e1f84bd3-5c2f-4a1d-9f4e-0d7c31a9b6e2',
      jitter: s.video.jitter, packetsLost: s.video.packetsLost, packetsReceived: s.video.packetsReceived,
      bytesReceived: s.video.packetsReceived * 1100, headerBytesReceived: s.video.packetsReceived * 28, lastPacketReceivedTimestamp: ts - 20,
      jitterBufferDelay: 38.42, jitterBufferTargetDelay: 40.1, jitterBufferMinimumDelay: 39.5, jitterBufferEmittedCount: 896,
      framesReceived: 898, framesDecoded: 896, keyFramesDecoded: 2, framesDropped: 0, frameWidth: 640, frameHeight: 480, framesPerSecond: 30,
      qpSum: 26811, totalDecodeTime: 1.873, totalInterFrameDelay: 29.74, totalSquaredInterFrameDelay: 1.002, pauseCount: 0, totalPausesDuration: 0,
      freezeCount: 0, totalFreezesDuration: 0, firCount: 0, pliCount: 1, nackCount: 3, totalProcessingDelay: 45.1, totalAssemblyTime: 0.62
    },
    {
      id: 'OT01A2186393224', type: 'outbound-rtp', timestamp: ts, ssrc: 2186393224, kind: 'audio', transportId: 'T01', codecId: 'COT01_111_minptime=10;useinbandfec=1',
      mid: '0', mediaSourceId: 'SA1', remoteId: 'RIA2186393224', active: true,
      packetsSent: Math.round(s.audio.bytesSent / 80), bytesSent: s.audio.bytesSent, headerBytesSent: Math.round(s.audio.bytesSent / 80) * 12,
      retransmittedPacketsSent: 0, retransmittedBytesSent: 0, targetBitrate: 32000, totalPacketSendDelay: 0.21, nackCount: 0
    },
    {
      id: 'OT01V4077152231', type: 'outbound-rtp', timestamp: ts, ssrc: 4077152231, kind: 'video', transportId: 'T01', codecId: 'COT01_96',
      mid: '1', mediaSourceId: 'SV2', remoteId: 'RIV4077152231', active: true,
      packetsSent: Math.round(s.video.bytesSent / 1100), bytesSent: s.video.bytesSent, headerBytesSent: Math.round(s.video.bytesSent / 1100) * 28,
      retransmittedPacketsSent: 2, retransmittedBytesSent: 2310, targetBitrate: 620000, framesEncoded: 899, keyFramesEncoded: 2, framesSent: 899,
      hugeFramesSent: 0, frameWidth: 640, frameHeight: 480, framesPerSecond: 30, qpSum: 24470, totalEncodeTime: 2.11, totalEncodedBytesTarget: 0,
      totalPacketSendDelay: 2.9, qualityLimitationReason: 'none', qualityLimitationDurations: { bandwidth: 0, cpu: 0, none: 29.9, other: 0 },
      qualityLimitationResolutionChanges: 0, encoderImplementation: 'libvpx', powerEfficientEncoder: false, scalabilityMode: 'L1T1', firCount: 0, pliCount: 1, nackCount: 3
    },
    { id: 'P', type: 'peer-connection', timestamp: ts, dataChannelsOpened: 1, dataChannelsClosed: 0 },
    // The other side's view of what we send: its losses are not ours and must not count.
    {
      id: 'RIA2186393224', type: 'remote-inbound-rtp', timestamp: ts - 800, ssrc: 2186393224, kind: 'audio', transportId: 'T01', codecId: 'COT01_111_minptime=10;useinbandfec=1',
      jitter: 0.35, packetsLost: 900, localId: 'OT01A2186393224', roundTripTime: 0.061, totalRoundTripTime: 1.83, fractionLost: 0.5, roundTripTimeMeasurements: 30
    },
    {
      id: 'RIV4077152231', type: 'remote-inbound-rtp', timestamp: ts - 800, ssrc: 4077152231, kind: 'video', transportId: 'T01', codecId: 'COT01_96',
      jitter: 0.02, packetsLost: 400, localId: 'OT01V4077152231', roundTripTime: 0.058, totalRoundTripTime: 1.7, fractionLost: 0.3, roundTripTimeMeasurements: 29
    },
    { id: 'ROA3360384812', type: 'remote-outbound-rtp', timestamp: ts - 1500, ssrc: 3360384812, kind: 'audio', transportId: 'T01', codecId: 'CIT01_111_minptime=10;useinbandfec=1', packetsSent: 1500, bytesSent: 120000, localId: 'IT01A3360384812', remoteTimestamp: ts - 1520, reportsSent: 6, roundTripTimeMeasurements: 0, totalRoundTripTime: 0 },
    { id: 'SA1', type: 'media-source', timestamp: ts, trackIdentifier: 'b7a0e1c2-93f4-4d6e-8a15-2c9f0e7d3b41', kind: 'audio', audioLevel: 0.0316, totalAudioEnergy: 0.0297, totalSamplesDuration: 29.95, echoReturnLoss: -30, echoReturnLossEnhancement: 0.17 },
    { id: 'SV2', type: 'media-source', timestamp: ts, trackIdentifier: '5d2c8f71-0a6b-4e39-b1d4-7f3e9a26c5d0', kind: 'video', width: 640, height: 480, frames: 900, framesPerSecond: 30 },
    {
      id: 'T01', type: 'transport', timestamp: ts, bytesSent: 1422841, bytesReceived: 1378003, packetsSent: 1843, packetsReceived: 1796,
      dtlsState: selected ? 'connected' : 'new', iceState: selected ? 'connected' : 'checking', iceRole: 'controlling', iceLocalUsernameFragment: 'x7Yq',
      ...(selected && {
        selectedCandidatePairId: selectedPairId,
        selectedCandidatePairChanges: 1,
        localCertificateId: 'CF3A:9B:07:5C:11:E4',
        remoteCertificateId: 'CF58:E2:AB:90:47:1C',
        tlsVersion: 'FEFD',
        dtlsCipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
        dtlsRole: 'client',
        srtpCipher: 'AES_CM_128_HMAC_SHA1_80'
      })
    }
  ])
}

/**
 * Firefox's getStats(): no transport stats; the selected pair says `selected: true`. Ids are Firefox's
 * braces-wrapped UUIDs for RTP streams and short hex for candidates.
 */
export function firefoxCall (s: Sample, kind: Kind = 'srflx'): StatsMap {
  const ts = s.timestamp
  const local = '4b0de5a3'
  const remote = '9c21f7e0'
  return toMap([
    { id: `${local}_${remote}`, type: 'candidate-pair', timestamp: ts, localCandidateId: local, remoteCandidateId: remote, transportId: '0', state: 'succeeded', priority: 7962116751041233000, nominated: true, selected: true, writable: true, readable: true, bytesSent: 1290000, bytesReceived: 1244000, lastPacketSentTimestamp: ts - 2, lastPacketReceivedTimestamp: ts - 5, ...(s.rtt !== undefined && { currentRoundTripTime: s.rtt }), totalRoundTripTime: 0.4, responsesReceived: 9 },
    { id: `${local}_1f0c6e2d`, type: 'candidate-pair', timestamp: ts, localCandidateId: local, remoteCandidateId: '1f0c6e2d', transportId: '0', state: 'succeeded', priority: 7962116751041232000, nominated: false, selected: false, writable: true, readable: true, bytesSent: 0, bytesReceived: 0, currentRoundTripTime: 0.9 },
    { id: local, type: 'local-candidate', timestamp: ts, address: ADDRESSES[kind].address, port: ADDRESSES[kind].port, protocol: 'udp', candidateType: kind, priority: ADDRESSES[kind].priority, transportId: '0', proxied: 'non-proxied' },
    { id: remote, type: 'remote-candidate', timestamp: ts, address: '198.51.100.77', port: 61007, protocol: 'udp', candidateType: 'srflx', priority: 1686052607, transportId: '0', proxied: 'non-proxied' },
    { id: '{6f1c0a5e-3b2d-4e8f-9a7c-1d0e2f3a4b5c}', type: 'inbound-rtp', timestamp: ts, ssrc: 3360384812, kind: 'audio', mediaType: 'audio', codecId: 'c1', jitter: s.audio.jitter, packetsLost: s.audio.packetsLost, packetsReceived: s.audio.packetsReceived, bytesReceived: s.audio.packetsReceived * 80, discardedPackets: 0 },
    { id: '{0b9e8d7c-6a5f-4e3d-2c1b-0a9f8e7d6c5b}', type: 'outbound-rtp', timestamp: ts, ssrc: 2186393224, kind: 'audio', mediaType: 'audio', codecId: 'c2', packetsSent: Math.round(s.audio.bytesSent / 80), bytesSent: s.audio.bytesSent, nackCount: 0 }
  ])
}

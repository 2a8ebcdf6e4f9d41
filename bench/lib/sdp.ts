import { randomBytes, randomInt } from 'node:crypto'

/**
 * Realistic-looking signaling payloads: a Chrome-style BUNDLE SDP (audio + video + data channel) and
 * trickled RTCIceCandidateInit objects. Each payload carries a numeric tag where a real one carries a
 * number anyway (the SDP session version in `o=`, the candidate foundation), so the receiver can match
 * it to its send time without any field a real client would not send.
 */

/** Stands for the tag in templates; split on it once, then each send is head + tag + tail. */
export const TAG = '@@TAG@@'

const hex = (bytes: number): string => randomBytes(bytes).toString('hex')
const token = (chars: number): string => randomBytes(chars).toString('base64').replace(/[+/=]/g, 'x').slice(0, chars)
const uuid = (): string => [hex(4), hex(2), hex(2), hex(2), hex(6)].join('-')

interface VideoCodec { name: string, fmtp?: string }

// Chrome's usual video list, in its order; each entry also gets an RTX payload type.
const VIDEO_CODECS: VideoCodec[] = [
  { name: 'VP8' },
  { name: 'VP9', fmtp: 'profile-id=0' },
  { name: 'VP9', fmtp: 'profile-id=2' },
  { name: 'H264', fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f' },
  { name: 'H264', fmtp: 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f' },
  { name: 'H264', fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
  { name: 'H264', fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f' },
  { name: 'AV1', fmtp: 'level-idx=5;profile=0;tier=0' },
  { name: 'H264', fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f' }
]

export interface SdpOptions {
  kind: 'offer' | 'answer'
  /** Approximate size of the SDP text; video codecs are added until it is reached. */
  targetBytes: number
}

/** An SDP with TAG as its session version: `o=- <session id> <TAG> IN IP4 127.0.0.1`. */
export function sdpTemplate ({ kind, targetBytes }: SdpOptions): string {
  const ufrag = token(4)
  const pwd = token(24)
  const fingerprint = (randomBytes(32).toString('hex').toUpperCase().match(/../g) ?? []).join(':')
  const setup = kind === 'offer' ? 'actpass' : 'active'
  const stream = uuid()
  const ice = [`c=IN IP4 0.0.0.0`, `a=rtcp:9 IN IP4 0.0.0.0`, `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${fingerprint}`, `a=setup:${setup}`]
  const ssrc = (): number => randomInt(1, 2 ** 32 - 1)
  const cname = token(16)

  const session = ['v=0', `o=- ${randomInt(2 ** 47)}${randomInt(10000)} ${TAG} IN IP4 127.0.0.1`, 's=-', 't=0 0',
    'a=group:BUNDLE 0 1 2', 'a=extmap-allow-mixed', `a=msid-semantic: WMS ${stream}`]

  const audioSsrc = ssrc()
  const audioTrack = uuid()
  const audio = ['m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126', ...ice, 'a=mid:0',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendrecv', `a=msid:${stream} ${audioTrack}`, 'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2', 'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:63 red/48000/2', 'a=fmtp:63 111/111', 'a=rtpmap:9 G722/8000', 'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000', 'a=rtpmap:13 CN/8000', 'a=rtpmap:110 telephone-event/48000', 'a=rtpmap:126 telephone-event/8000',
    `a=ssrc:${audioSsrc} cname:${cname}`, `a=ssrc:${audioSsrc} msid:${stream} ${audioTrack}`]

  const data = ['m=application 9 UDP/DTLS/SCTP webrtc-datachannel', ...ice.filter((l) => !l.startsWith('a=rtcp:')), 'a=mid:2',
    'a=sctp-port:5000', 'a=max-message-size:262144']

  const videoSsrc = ssrc()
  const rtxSsrc = ssrc()
  const videoTrack = uuid()
  const videoHead = (pts: number[]): string[] => [`m=video 9 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`, ...ice, 'a=mid:1',
    'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:13 urn:3gpp:video-orientation',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendrecv', `a=msid:${stream} ${videoTrack}`, 'a=rtcp-mux', 'a=rtcp-rsize']
  const videoTail = [`a=ssrc-group:FID ${videoSsrc} ${rtxSsrc}`,
    `a=ssrc:${videoSsrc} cname:${cname}`, `a=ssrc:${videoSsrc} msid:${stream} ${videoTrack}`,
    `a=ssrc:${rtxSsrc} cname:${cname}`, `a=ssrc:${rtxSsrc} msid:${stream} ${videoTrack}`]

  const build = (codecs: number): string => {
    const pts: number[] = []
    const lines: string[] = []
    for (let i = 0; i < codecs; i++) {
      const codec = VIDEO_CODECS[i % VIDEO_CODECS.length] as VideoCodec
      const pt = 96 + 2 * i
      pts.push(pt, pt + 1)
      lines.push(`a=rtpmap:${pt} ${codec.name}/90000`, `a=rtcp-fb:${pt} goog-remb`, `a=rtcp-fb:${pt} transport-cc`,
        `a=rtcp-fb:${pt} ccm fir`, `a=rtcp-fb:${pt} nack`, `a=rtcp-fb:${pt} nack pli`)
      if (codec.fmtp !== undefined) lines.push(`a=fmtp:${pt} ${codec.fmtp}`)
      lines.push(`a=rtpmap:${pt + 1} rtx/90000`, `a=fmtp:${pt + 1} apt=${pt}`)
    }
    return [...session, ...audio, ...videoHead(pts), ...lines, ...videoTail, ...data].join('\r\n') + '\r\n'
  }
  // Payload types 96..127 leave room for 16 codecs with their RTX.
  let codecs = 1
  while (codecs < 16 && build(codecs).length < targetBytes) codecs++
  return build(codecs)
}

/** Eight kinds of candidate a dual-stack client behind NAT with a TURN server typically trickles. */
export interface CandidateInit { candidate: string, sdpMid: string, sdpMLineIndex: number, usernameFragment: string }

export function candidateTemplates (count: number): CandidateInit[] {
  const ufrag = token(4)
  const port = (): number => randomInt(49152, 65535)
  const lan = `192.168.${randomInt(0, 255)}.${randomInt(2, 254)}`
  const lanPort = port()
  const wan = `203.0.113.${randomInt(2, 254)}`
  const wanPort = port()
  const kinds = [
    `1 udp 2122260223 ${lan} ${lanPort} typ host`,
    `1 udp 2122197247 2001:db8:${hex(2)}::${hex(2)} ${port()} typ host`,
    `1 tcp 1518280447 ${lan} 9 typ host tcptype active`,
    `1 tcp 1518217471 2001:db8:${hex(2)}::${hex(2)} 9 typ host tcptype active`,
    `1 udp 1686052607 ${wan} ${wanPort} typ srflx raddr ${lan} rport ${lanPort}`,
    `1 udp 41885439 198.51.100.${randomInt(2, 254)} ${port()} typ relay raddr ${wan} rport ${wanPort}`,
    `1 udp 41819903 198.51.100.${randomInt(2, 254)} ${port()} typ relay raddr ${wan} rport ${wanPort}`,
    `1 tcp 25108223 198.51.100.${randomInt(2, 254)} ${port()} typ relay raddr ${wan} rport ${wanPort}`
  ]
  return Array.from({ length: count }, (_, i) => ({
    candidate: `candidate:${TAG} ${kinds[i % kinds.length] ?? ''} generation 0 ufrag ${ufrag} network-id ${1 + (i % 2)} network-cost 10`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: ufrag
  }))
}

const SDP_TAG = /^v=0\r\no=- \d+ (\d+) /
const CANDIDATE_TAG = /^candidate:(\d+) /

/** The tag of a received SDP, or -1. */
export function sdpTag (sdp: unknown): number {
  const match = typeof sdp === 'string' ? SDP_TAG.exec(sdp) : null
  return match?.[1] === undefined ? -1 : Number(match[1])
}

/** The tag of a received RTCIceCandidateInit, or -1. */
export function candidateTag (candidate: unknown): number {
  const text = typeof candidate === 'object' && candidate !== null ? (candidate as { candidate?: unknown }).candidate : undefined
  const match = typeof text === 'string' ? CANDIDATE_TAG.exec(text) : null
  return match?.[1] === undefined ? -1 : Number(match[1])
}

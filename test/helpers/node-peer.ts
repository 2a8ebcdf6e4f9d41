/**
 * One side of a PeerCall in its own Node process, on node-datachannel's RTCPeerConnection polyfill
 * (libdatachannel). Run by test/client/peer-call-node.test.ts:
 *   tsx test/helpers/node-peer.ts   with SWB_URL, SWB_TOKEN, SWB_ROOM, SWB_ROLE (offer|answer), SWB_RELAY (1|0)
 * With SWB_RELAY=1 the peer's sockets are bound to ::1 and it reaches coturn over IPv6 (see
 * IPv6OnlyPeerConnection): its only IPv4 candidate is its relay, so the relay is the only path.
 * The offering side opens a data channel and sends `ping <n>`; the other echoes `pong <n>`. Each
 * process prints one JSON line with what it saw, then exits 0 (or 1 with the error).
 */
import { WebSocket } from 'ws'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { initLogger, PeerConnection } from 'node-datachannel'
import { encodeTurnCredentials, PeerCall, SwitchboardClient, type PeerConnectionConstructor } from '../../client/index.js'

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

/**
 * libdatachannel applies iceTransportPolicy 'relay' to the candidates it signals, not to libjuice's
 * pairing: libjuice still sends from its own socket to the remote relay and learns the remote
 * socket as a peer-reflexive candidate, so on loopback it may select a direct pair (srflx/prflx).
 * Here the agent's socket is bound to ::1 and talks to coturn over IPv6, while coturn relays on
 * 127.0.0.1: the relay is this peer's only IPv4 candidate, libjuice pairs within one address family,
 * and no direct path exists. The polyfill builds TURN URLs as `turn:user:pass@host:port`, which
 * cannot hold an IPv6 literal, so the native connection gets its TURN server as an object (the
 * URL-encoded credentials of encodeTurnCredentials, decoded back: the object form takes them raw).
 */
class IPv6OnlyPeerConnection extends RTCPeerConnection {
  constructor (config: RTCConfiguration = {}) {
    const iceServers = (config.iceServers ?? []).flatMap((server) => (Array.isArray(server.urls) ? server.urls : [server.urls]).flatMap((url) => {
      const turn = /^turn:127\.0\.0\.1:(\d+)\?transport=udp$/.exec(url)
      if (turn === null || typeof server.username !== 'string' || typeof server.credential !== 'string') return []
      return [{ hostname: '::1', port: Number(turn[1]), username: decodeURIComponent(server.username), password: decodeURIComponent(server.credential), relayType: 'TurnUdp' as const }]
    }))
    if (iceServers.length === 0) throw new Error('no turn:127.0.0.1 UDP server to reach over ::1')
    const native = new PeerConnection('ipv6-only', { iceServers, iceTransportPolicy: 'relay', bindAddress: '::1' })
    // The polyfill wraps a native connection it is given (its `peerConnection` option).
    super({ ...config, peerConnection: native } as RTCConfiguration)
  }
}

/**
 * What this side got through, in order (events, never SDP or candidates), printed on stderr as it
 * happens and returned with the result: a call that never ends says where it stopped.
 */
const trail: string[] = []
const started = Date.now()
function mark (step: string): void {
  trail.push(`${Date.now() - started}ms ${step}`)
  process.stderr.write(`${trail[trail.length - 1]}\n`)
}
// SWB_NDC_LOG_DIR=<dir>: libdatachannel's debug log (ICE, DTLS, SCTP) in <dir>/<role>.log, to see why a call stalls.
const logDir = process.env.SWB_NDC_LOG_DIR
if (logDir !== undefined && logDir !== '') {
  const file = join(logDir, `${process.env.SWB_ROLE ?? 'peer'}-${process.pid}.log`)
  initLogger('Debug', (level, message) => appendFileSync(file, `${Date.now() - started}ms ${level} ${message}\n`))
}

/** The signaling socket, with the type of every message in and out on the trail (never their content). */
class TracedWebSocket extends WebSocket {
  constructor (...args: ConstructorParameters<typeof WebSocket>) {
    super(...args)
    this.on('message', (data) => mark(`got ${typeOf(String(data))}`))
    const send = this.send.bind(this)
    // The client sends strings only.
    this.send = ((data: string) => { mark(`sent ${typeOf(data)}`); send(data) }) as WebSocket['send']
  }
}
function typeOf (frame: string): string {
  try { return String((JSON.parse(frame) as { type?: unknown }).type) } catch { return 'non-JSON' }
}

/** Ends a stuck call with what it got through, well before the test's own kill. */
const STUCK_MS = 45_000

async function main (): Promise<Record<string, unknown>> {
  const role = env('SWB_ROLE')
  const room = env('SWB_ROOM')
  const relay = process.env.SWB_RELAY === '1'
  const client = new SwitchboardClient({ url: env('SWB_URL'), token: env('SWB_TOKEN'), WebSocket: TracedWebSocket })
  await client.connect()
  mark('signaling connected')
  // Listening before joining: the partner may join at any moment, even before join() has returned here.
  const partnerJoined = client.waitFor('peer-joined', { filter: (m) => m.room === room, timeoutMs: 40_000 })
  partnerJoined.catch(() => {}) // not awaited when the partner was there first
  const joined = await client.join(room)
  mark(`joined (${joined.peers.length} peer(s) present)`)
  const peer = joined.peers[0] ?? (await partnerJoined).peer
  mark('partner known')
  const call = new PeerCall(client, {
    room,
    peerId: peer.peerId,
    // The polyfill's class is structurally a (partial) RTCPeerConnection.
    RTCPeerConnection: (relay ? IPv6OnlyPeerConnection : RTCPeerConnection) as unknown as PeerConnectionConstructor,
    // libdatachannel reads TURN credentials from the URL: `expiry:user` has a colon.
    adaptIceServers: encodeTurnCredentials,
    configuration: relay ? { iceTransportPolicy: 'relay' } : {}
  })
  const errors: string[] = []
  call.on('error', ({ error }) => { errors.push(`${error.code}: ${error.message}`); mark(`error ${error.code}`) })
  const states: string[] = []
  const connected = new Promise<void>((resolve) => {
    call.on('connectionstatechange', ({ state }) => {
      states.push(state)
      mark(`connection ${state}`)
      if (state === 'connected') resolve()
    })
  })
  void call.ready.then((pc) => {
    mark('peer connection created')
    pc.addEventListener('iceconnectionstatechange', () => mark(`ice ${pc.iceConnectionState}`))
    pc.addEventListener('icegatheringstatechange', () => mark(`gathering ${pc.iceGatheringState}`))
    pc.addEventListener('signalingstatechange', () => mark(`signaling ${pc.signalingState}`))
  })
  // A direct call can be over before libjuice's TURN allocations are, and a closing side takes the
  // other's ICE agent down with it: the test reads coturn's log for those allocations, so neither side
  // ends the exchange before its own gathering (relay candidates included) is complete.
  const gathered = call.ready.then(async (pc) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 20_000)
    const check = (): void => { if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve() } }
    pc.addEventListener('icegatheringstatechange', check)
    check()
  }))
  const rounds = 3
  const channel: RTCDataChannel = role === 'offer'
    ? await call.createDataChannel('chat')
    : (await call.waitFor('datachannel', { timeoutMs: 40_000 })).channel
  mark(`data channel ${channel.readyState}`)
  const done = new Promise<number>((resolve) => {
    let pongs = 0
    channel.onmessage = ({ data }) => {
      const text = String(data)
      mark(`data channel got ${text}`)
      if (text.startsWith('ping ')) {
        const pong = (): void => channel.send(`pong ${text.slice(5)}`)
        if (text !== `ping ${rounds}`) pong()
        else void gathered.then(() => { pong(); resolve(rounds) })
      } else if (text.startsWith('pong ')) {
        pongs++
        if (pongs < rounds) channel.send(`ping ${pongs + 1}`)
        else resolve(pongs)
      }
    }
  })
  await connected
  if (role === 'offer') {
    if (channel.readyState !== 'open') await new Promise<void>((resolve) => { channel.onopen = () => resolve() })
    mark('data channel open')
    channel.send('ping 1')
  }
  const exchanged = await done
  const pc = await call.ready
  await gathered
  mark('exchange done, gathering complete')
  let local: string | undefined
  let remote: string | undefined
  ;(await pc.getStats()).forEach((entry: { type?: string, candidateType?: string }) => {
    if (entry.type === 'local-candidate') local = entry.candidateType
    if (entry.type === 'remote-candidate') remote = entry.candidateType
  })
  // node-datachannel's own view of the selected pair (its getStats() has the same types, fewer fields).
  const pair = (pc as unknown as { selectedCandidatePair?: () => { local: { type: string, address: string, port: number }, remote: { type: string, address: string, port: number } } | null }).selectedCandidatePair?.()
  const localCandidates = ((pc as unknown as { ext_localCandidates?: Array<{ candidate: string }> }).ext_localCandidates ?? []).map((c) => / typ (\w+)/.exec(c.candidate)?.[1])
  // Let the last pong leave before the connection goes.
  await new Promise((resolve) => setTimeout(resolve, role === 'offer' ? 0 : 200))
  call.close()
  await client.close()
  return { role, trail, exchanged, gathering: pc.iceGatheringState, local, remote, pair, localCandidates, states, errors, polite: call.polite, turn: (call.iceServers?.iceServers ?? []).some((s) => s.urls.some((u) => u.startsWith('turn:'))) }
}

setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ error: `stuck for ${STUCK_MS} ms after: ${trail.at(-1) ?? 'start'}`, trail })}\n`)
  process.exit(1)
}, STUCK_MS).unref()

main().then((result) => {
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}, (err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), trail })}\n`)
  process.exit(1)
})

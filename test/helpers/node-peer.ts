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
import { PeerConnection } from 'node-datachannel'
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

async function main (): Promise<Record<string, unknown>> {
  const role = env('SWB_ROLE')
  const room = env('SWB_ROOM')
  const relay = process.env.SWB_RELAY === '1'
  const client = new SwitchboardClient({ url: env('SWB_URL'), token: env('SWB_TOKEN'), WebSocket })
  await client.connect()
  const joined = await client.join(room)
  const peer = joined.peers[0] ?? (await client.waitFor('peer-joined', { filter: (m) => m.room === room, timeoutMs: 60_000 })).peer
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
  call.on('error', ({ error }) => errors.push(`${error.code}: ${error.message}`))
  const states: string[] = []
  const connected = new Promise<void>((resolve) => {
    call.on('connectionstatechange', ({ state }) => {
      states.push(state)
      if (state === 'connected') resolve()
    })
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
    : (await call.waitFor('datachannel', { timeoutMs: 60_000 })).channel
  const done = new Promise<number>((resolve) => {
    let pongs = 0
    channel.onmessage = ({ data }) => {
      const text = String(data)
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
    channel.send('ping 1')
  }
  const exchanged = await done
  const pc = await call.ready
  await gathered
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
  return { role, exchanged, gathering: pc.iceGatheringState, local, remote, pair, localCandidates, states, errors, polite: call.polite, turn: (call.iceServers?.iceServers ?? []).some((s) => s.urls.some((u) => u.startsWith('turn:'))) }
}

main().then((result) => {
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}, (err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })}\n`)
  process.exit(1)
})

import type { Socket } from 'node:net'
import type { WsPeer } from './ws-peer.js'

/**
 * The write requests this process has handed to the kernel over TCP so far: one per call of a TCP
 * handle's writev/writeBuffer/write*String, the calls through which every net.Socket write leaves
 * Node (each is one write system call when the socket's send buffer has room, as on loopback in these
 * tests). Counted at that boundary rather than with /proc's syscw: the kernel's figure also counts
 * writes Node makes for itself (stdout, the event loop's own wake-ups on Node 24), which fall in a
 * measuring window at random. Clients, servers and their Redis connections all count; pipes do not.
 */
export function tcpWrites (probe: Socket): number {
  install(probe)
  return writes
}

let writes = 0
let installed = false
const WRITE_METHODS = ['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String']

/** Wraps the stream-write methods once, counting calls whose handle is a TCP one (the probe's kind). */
function install (probe: Socket): void {
  if (installed) return
  const handle = (probe as unknown as { _handle?: object })._handle
  if (!handle) throw new Error('tcpWrites needs a connected socket to find the TCP handle type')
  const TcpHandle = handle.constructor
  for (const name of WRITE_METHODS) {
    let owner: Record<string, unknown> | null = Object.getPrototypeOf(handle) as Record<string, unknown>
    while (owner && !Object.prototype.hasOwnProperty.call(owner, name)) owner = Object.getPrototypeOf(owner) as Record<string, unknown> | null
    if (!owner) throw new Error(`TCP handles have no ${name}`)
    const original = owner[name] as (...args: unknown[]) => unknown
    owner[name] = function (this: object, ...args: unknown[]) {
      if (this instanceof TcpHandle) writes++
      return original.apply(this, args)
    }
  }
  installed = true
}

/** The TCP socket under a peer's WebSocket. */
export const tcpOf = (peer: WsPeer): Socket => (peer.socket as unknown as { _socket: Socket })._socket

/**
 * Sends `count` candidates from `sender` to `to` in one TCP write (the socket is corked around them),
 * so the server reads them as one chunk. Returns the candidate strings, in send order.
 */
export function sendBurstInOneChunk (sender: WsPeer, room: string, to: string, count: number): string[] {
  const burst = Array.from({ length: count }, (_, i) => `candidate:${i} 1 udp 2122260223 192.0.2.1 ${50000 + i} typ host`)
  const tcp = tcpOf(sender)
  tcp.cork()
  for (const candidate of burst) sender.send({ type: 'candidate', room, to, candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 } })
  tcp.uncork()
  return burst
}

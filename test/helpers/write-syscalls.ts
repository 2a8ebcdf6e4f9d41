import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import type { WsPeer } from './ws-peer.js'

/**
 * The kernel's count of write system calls made by this process's main thread so far (Linux). The
 * client and the server under test both write from it; other threads (a module loader's hooks thread,
 * its esbuild service, libuv's pool waking the loop) write at moments of their own and are not counted.
 */
export const writeSyscalls = (): number => Number(/syscw: (\d+)/.exec(readFileSync(`/proc/self/task/${process.pid}/io`, 'utf8'))?.[1])

/**
 * Sends `count` candidates from `sender` to `to` in one TCP write (the socket is corked around them),
 * so the server reads them as one chunk. Returns the candidate strings, in send order.
 */
export function sendBurstInOneChunk (sender: WsPeer, room: string, to: string, count: number): string[] {
  const burst = Array.from({ length: count }, (_, i) => `candidate:${i} 1 udp 2122260223 192.0.2.1 ${50000 + i} typ host`)
  const tcp = (sender.socket as unknown as { _socket: Socket })._socket
  tcp.cork()
  for (const candidate of burst) sender.send({ type: 'candidate', room, to, candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 } })
  tcp.uncork()
  return burst
}

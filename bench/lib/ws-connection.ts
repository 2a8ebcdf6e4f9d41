import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import type { BenchPeer, CompiledSignal, ControlFrame, OutgoingSignal, PeerConnection, ReceivedSignal } from './load.js'
import { TAG } from './sdp.js'

/**
 * A PeerConnection over a plain `ws` WebSocket speaking JSON text frames, as both Switchboard and the
 * raw relay do: signals go out as `{type, room, to, sdp|candidate}`, and a received frame whose type
 * is offer/answer/candidate is a relayed signal, anything else a control frame for the driver.
 */
export function wsConnection (socket: WebSocket, peer: BenchPeer): PeerConnection {
  let closed = false
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => { closed = true; resolve() }))
  socket.on('message', (data: Buffer) => {
    const at = performance.now()
    let frame: ControlFrame
    try {
      frame = JSON.parse(data.toString('utf8')) as ControlFrame
    } catch {
      peer.meter.countError('bench: unparsable frame')
      return
    }
    if (frame.type === 'offer' || frame.type === 'answer' || frame.type === 'candidate') peer.onSignal(frame as unknown as ReceivedSignal, at, data.length)
    else peer.onControl(frame)
  })
  socket.on('unexpected-response', (_req, res) => {
    peer.onFailed(new Error(`${peer.spec.userId}: upgrade refused with HTTP ${res.statusCode}`))
    socket.terminate()
  })
  socket.on('error', (err) => peer.onFailed(err))
  socket.on('close', (code) => peer.onClosed(String(code)))

  return {
    compile (message: OutgoingSignal): CompiledSignal {
      // JSON once with the tag's placeholder; each send is head + tag + tail, no serialization.
      const [head, tail, extra] = JSON.stringify(message).split(TAG)
      if (head === undefined || tail === undefined || extra !== undefined) throw new Error('a signal needs exactly one tag')
      return { send: (tag) => socket.send(head + tag + tail), bytes: Buffer.byteLength(head + '1' + tail) }
    },
    sendControl (message) {
      socket.send(JSON.stringify(message))
    },
    get closed () { return closed },
    async close () {
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate()
      else socket.close(1000)
      await closedPromise
    },
    terminate () { socket.terminate() }
  }
}

/**
 * The part of the WHATWG WebSocket the client uses, so that both the browser's WebSocket and
 * Node's `ws` package fit. Handlers are typed through a method signature on purpose: TypeScript
 * checks method parameters bivariantly, which lets the richer event types of either
 * implementation stand in for these minimal ones.
 */
type Handler<E> = { bivariant (event: E): void }['bivariant']

export interface SocketMessageEvent { data: unknown }
export interface SocketCloseEvent { code: number, reason: string }

export interface SocketLike {
  readonly readyState: number
  /** The subprotocol the server selected ('' when none). */
  readonly protocol: string
  onopen: Handler<unknown> | null
  onmessage: Handler<SocketMessageEvent> | null
  onclose: Handler<SocketCloseEvent> | null
  onerror: Handler<unknown> | null
  send (data: string): void
  close (code?: number, reason?: string): void
}

/**
 * A WebSocket class: the browser's (or Node's global one) takes the first two arguments; `ws` also
 * reads the third (see SOCKET_OPTIONS).
 */
export type SocketConstructor = new (url: string, protocols?: string | string[], options?: SocketOptions) => SocketLike

/** What the client asks of a WebSocket implementation beyond the WHATWG constructor. */
export interface SocketOptions { allowSynchronousEvents?: boolean }

/**
 * One message per task, as in browsers. `ws` emits every frame of one read in a single go by
 * default, so code that resumes after an `await` (a PeerCall created once `peer-joined` resolved)
 * ran only after the frames behind it had been emitted, and missed them: under load the partner's
 * offer arrived in the same read as its peer-joined and no call was there to take it. Browsers and
 * Node's own WebSocket ignore the third argument.
 */
export const SOCKET_OPTIONS: SocketOptions = { allowSynchronousEvents: false }

export const SOCKET_CONNECTING = 0
export const SOCKET_OPEN = 1

const noop = (): void => {}

/**
 * Stops listening to a socket we are done with and closes it if it is still alive. Handlers become
 * no-ops rather than null: `ws` throws an 'error' event that has no listener.
 */
export function retireSocket (socket: SocketLike, code?: number, reason?: string, hard = false): void {
  socket.onopen = noop
  socket.onmessage = noop
  socket.onclose = noop
  socket.onerror = noop
  // An unresponsive peer never completes a closing handshake; `ws` can drop the TCP connection at once (browsers cannot).
  const terminate = (socket as { terminate?: unknown }).terminate
  if (hard && typeof terminate === 'function') {
    terminate.call(socket)
    return
  }
  if (code !== undefined && (socket.readyState === SOCKET_CONNECTING || socket.readyState === SOCKET_OPEN)) {
    try {
      socket.close(code, reason)
    } catch {
      // Already closing: nothing left to do.
    }
  }
}

/** What the heartbeat needs of a connection. */
export interface Beating {
  /** Answered the last ping (set again by the socket's pong). */
  alive: boolean
  /** Which slot the heartbeat put it in (kept on the connection: no map entry per socket). */
  heartbeatSlot: number
  readonly socket: { ping (): void }
}

/** About how often the heartbeat ticks: short enough that one tick's pings are a small batch. */
const TICK_MS = 50
/** Slots for very long intervals: ticks then come further apart than TICK_MS. */
const MAX_SLOTS = 512

/**
 * How many ticks the interval is cut into: one every TICK_MS or so. With the default 15 s and 10,000
 * sockets that is 300 ticks of about 34 pings, each well under a millisecond of work; 16 slots (the
 * old figure) meant 625 pings (625 writes, then 625 pongs) in one go, a 10 ms stall of every relayed
 * message each second (docs/bench.md, paced latency).
 */
export function heartbeatSlots (intervalMs: number): number {
  return Math.max(1, Math.min(MAX_SLOTS, Math.floor(intervalMs / TICK_MS)))
}

/** Starts a repeating timer; returns what stops it (injectable, for tests that tick by hand). */
export type StartTimer = (tick: () => void, everyMs: number) => () => void
const startInterval: StartTimer = (tick, everyMs) => {
  const timer = setInterval(tick, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}

/**
 * Pings every socket once per interval, spread over the interval instead of all in one tick: with
 * 10,000 sockets, one tick would queue 10,000 pings (and then 10,000 pongs) at once. A socket that did
 * not answer its previous ping, one interval ago, is dead.
 */
export class Heartbeat<C extends Beating = Beating> {
  private readonly slots: Array<Set<C>>
  private next = 0
  private added = 0
  private readonly stopTimer: () => void

  constructor (intervalMs: number, private readonly onDead: (conn: C) => void, startTimer: StartTimer = startInterval) {
    const count = heartbeatSlots(intervalMs)
    this.slots = Array.from({ length: count }, () => new Set<C>())
    this.stopTimer = startTimer(() => this.tick(), Math.max(1, Math.floor(intervalMs / count)))
  }

  /** Round-robin over the slots, so they stay the same size as connections come and go. */
  add (conn: C): void {
    conn.heartbeatSlot = this.added++ % this.slots.length
    this.slots[conn.heartbeatSlot]?.add(conn)
  }

  remove (conn: C): void {
    this.slots[conn.heartbeatSlot]?.delete(conn)
  }

  stop (): void {
    this.stopTimer()
  }

  private tick (): void {
    const slot = this.slots[this.next] as Set<C>
    this.next = (this.next + 1) % this.slots.length
    for (const conn of slot) {
      if (!conn.alive) {
        this.remove(conn)
        this.onDead(conn)
        continue
      }
      conn.alive = false
      conn.socket.ping()
    }
  }
}

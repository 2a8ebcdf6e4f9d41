/** What the heartbeat needs of a connection. */
export interface Beating {
  /** Answered the last ping (set again by the socket's pong). */
  alive: boolean
  /** Which slot the heartbeat put it in (kept on the connection: no map entry per socket). */
  heartbeatSlot: number
  readonly socket: { ping (): void }
}

/** The heartbeat interval is cut into this many ticks; each tick pings one slot of the sockets. */
const SLOTS = 16

/**
 * Pings every socket once per interval, spread over the interval instead of all in one tick: with
 * 10,000 sockets, one tick would queue 10,000 pings (and then 10,000 pongs) at once. A socket that did
 * not answer its previous ping, one interval ago, is dead.
 */
export class Heartbeat<C extends Beating = Beating> {
  private readonly slots: Array<Set<C>> = Array.from({ length: SLOTS }, () => new Set<C>())
  private next = 0
  private added = 0
  private readonly timer: NodeJS.Timeout

  constructor (intervalMs: number, private readonly onDead: (conn: C) => void) {
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(intervalMs / SLOTS)))
    this.timer.unref()
  }

  /** Round-robin over the slots, so they stay the same size as connections come and go. */
  add (conn: C): void {
    conn.heartbeatSlot = this.added++ % SLOTS
    this.slots[conn.heartbeatSlot]?.add(conn)
  }

  remove (conn: C): void {
    this.slots[conn.heartbeatSlot]?.delete(conn)
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private tick (): void {
    const slot = this.slots[this.next] as Set<C>
    this.next = (this.next + 1) % SLOTS
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

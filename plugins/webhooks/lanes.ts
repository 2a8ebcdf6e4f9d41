/**
 * Per-room order: one lane per room, each delivering its events one after the other (the next only
 * once the previous one is acknowledged or dropped), the lanes of different rooms side by side. A
 * room whose events are being retried holds up no other room.
 */
export class RoomLanes<T extends { room: string }> {
  private readonly lanes = new Map<string, T[]>()
  private idleWaiters: Array<() => void> = []
  private stopped = false
  /** Events held: the ones being delivered and the ones waiting behind them. */
  size = 0

  /** `run` settles once the event is done with (delivered, dropped, or aborted by stop()). */
  constructor (private readonly run: (event: T) => Promise<void>) {}

  push (event: T): void {
    if (this.stopped) return
    this.size++
    const lane = this.lanes.get(event.room)
    if (lane !== undefined) {
      lane.push(event)
      return
    }
    const fresh = [event]
    this.lanes.set(event.room, fresh)
    void this.drain(event.room, fresh)
  }

  private async drain (room: string, lane: T[]): Promise<void> {
    for (let event = lane[0]; event !== undefined && !this.stopped; event = lane[0]) {
      try {
        await this.run(event)
      } catch {
        // run() reports its own failures; a lane must never stop on one.
      }
      lane.shift()
      if (!this.stopped) this.size--
    }
    if (this.lanes.get(room) === lane) this.lanes.delete(room)
    if (this.lanes.size === 0) this.settle()
  }

  /** Resolves when nothing is held (at once if nothing is). */
  async idle (): Promise<void> {
    if (this.lanes.size === 0) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Stops taking and starting events; what is held is forgotten (the caller's store still has it). */
  stop (): void {
    this.stopped = true
    this.lanes.clear()
    this.size = 0
    this.settle()
  }

  private settle (): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}

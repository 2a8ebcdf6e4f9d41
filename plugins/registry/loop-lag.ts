/**
 * Tells a stalled Redis from a blocked event loop. A command's timeout is a timer: when our own event
 * loop was busy for longer than REDIS_COMMAND_TIMEOUT_MS (thousands of sockets closing at once, a long
 * GC), the timer fires before the socket's already-arrived reply is read, and the command "times out"
 * although Redis answered in time. Taking that for a Redis stall refused every relay until a PING came
 * back (the benchmark's Redis target: 36 refusals after 9,000 peers disconnected at once).
 *
 * A probe timer notes how late it ran. Timers run in order of their due time, so after a block the probe
 * (due within one period of the block's start) runs before the command timeouts that came due during
 * it, and they can ask whether the loop was just blocked.
 */
export class LoopLag {
  private expectedAt: number
  private lateAt = -Infinity
  private lateByMs = 0
  private readonly timer: NodeJS.Timeout

  constructor (private readonly periodMs: number, private readonly now: () => number = () => performance.now()) {
    this.expectedAt = now() + periodMs
    this.timer = setInterval(() => this.tick(), periodMs)
    this.timer.unref()
  }

  private tick (): void {
    const now = this.now()
    const late = now - this.expectedAt
    if (late > this.periodMs) {
      this.lateAt = now
      this.lateByMs = late
    }
    this.expectedAt = now + this.periodMs
  }

  /** Whether the event loop has just come out of a block of at least `ms` (noticed within one probe period). */
  justBlockedFor (ms: number): boolean {
    return this.lateByMs >= ms && this.now() - this.lateAt <= this.periodMs
  }

  stop (): void {
    clearInterval(this.timer)
  }
}

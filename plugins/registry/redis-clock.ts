/** How many recent samples the offset is chosen from (one per liveness heartbeat: about 27 s by default). */
const SAMPLES_KEPT = 16

/**
 * Redis' clock against ours, the way NTP filters its samples. One TIME round trip gives an offset that
 * is wrong by up to half the round trip, and it is that wrong exactly when the delays there and back
 * differ, which is what load does: the TIME waits behind a pipeline of relays on the way in, or its
 * answer waits for a busy event loop on the way back. Taking the latest sample as the truth made relay
 * deadlines (docs/redis.md) hundreds of milliseconds early after a busy moment, and relays were refused
 * as late although Redis ran them in time. So the sample with the shortest round trip among the recent
 * ones is used: its error bound is the smallest. Clocks drift by parts per million, nothing over a window
 * this short.
 */
export class ClockOffset {
  private readonly samples: Array<{ offsetMs: number, roundTripMs: number }> = []
  private best = { offsetMs: 0, roundTripMs: Infinity }

  /**
   * One TIME round trip: sent and received on our clock, Redis' answer on its own. Returns the offset
   * to use from now on (Redis time = our time + offset).
   */
  add (sentMs: number, redisMs: number, receivedMs: number): number {
    const roundTripMs = Math.max(0, receivedMs - sentMs)
    const sample = { offsetMs: redisMs - (sentMs + receivedMs) / 2, roundTripMs }
    // Each sample says the offset lies within half its round trip of its value. When the new range and
    // the best one's do not overlap, both cannot be right: Redis' clock changed (a failover to another
    // host, a clock step), and the older samples are void.
    if (Math.abs(sample.offsetMs - this.best.offsetMs) > (sample.roundTripMs + this.best.roundTripMs) / 2) this.samples.length = 0
    this.samples.push(sample)
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift()
    this.best = this.samples.reduce((a, b) => (b.roundTripMs <= a.roundTripMs ? b : a))
    return Math.round(this.best.offsetMs)
  }

  /** How far off the offset in use can be: half the round trip it was measured with. */
  get errorBoundMs (): number {
    return this.best.roundTripMs / 2
  }
}

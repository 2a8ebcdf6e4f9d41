import t from 'tap'
import { ClockOffset } from '../../../plugins/registry/redis-clock.js'

// Redis' clock is 40 ms ahead of ours in every case below.
const AHEAD = 40

t.test('a precise sample is not displaced by a later one taken under load', async (t) => {
  const clock = new ClockOffset()
  // Quiet: 2 ms there and back, Redis answered half-way.
  t.equal(clock.add(1000, 1001 + AHEAD, 1002), AHEAD)
  t.equal(clock.errorBoundMs, 1)
  // Busy: the TIME went out at once, but its answer waited 900 ms for our event loop. On its own this
  // sample says Redis is 410 ms behind: relay deadlines would be 450 ms early.
  t.equal(clock.add(5000, 5001 + AHEAD, 5901), AHEAD, 'the quiet sample still rules')
  t.equal(clock.errorBoundMs, 1)
})

t.test('the round trip bounds the error of the sample in use', async (t) => {
  const clock = new ClockOffset()
  // Only busy samples so far: the best of them (200 ms round trip, Redis ran it after 10 ms).
  t.equal(clock.add(0, 10 + AHEAD, 600), AHEAD + 10 - 300)
  const offset = clock.add(1000, 1010 + AHEAD, 1200)
  t.equal(clock.errorBoundMs, 100)
  t.ok(Math.abs(offset - AHEAD) <= clock.errorBoundMs, `off by ${offset - AHEAD} ms, within the bound`)
})

t.test('a clock that changed is followed at once', async (t) => {
  const clock = new ClockOffset()
  clock.add(0, 1 + AHEAD, 2)
  // Redis' clock jumps (a failover to a host whose clock is 5 s ahead): measured with a 4 ms round
  // trip, this cannot be reconciled with the earlier sample, which is dropped.
  t.equal(clock.add(1000, 1002 + 5000, 1004), 5000)
  t.equal(clock.errorBoundMs, 2)
  // Likewise back, even from a sample with a long round trip, if its range excludes the old value.
  t.equal(clock.add(2000, 2300 + AHEAD, 2600), AHEAD)
  t.equal(clock.errorBoundMs, 300)
})

t.test('samples leave the window: a precise one from long ago does not rule forever', async (t) => {
  const clock = new ClockOffset()
  clock.add(0, 1 + AHEAD, 2)
  let offset = 0
  // 16 later samples with 100 ms round trips, consistent with the first one (within 50 ms of it).
  for (let i = 1; i <= 16; i++) offset = clock.add(i * 1000, i * 1000 + 50 + AHEAD + 20, i * 1000 + 100)
  t.equal(offset, AHEAD + 20, 'the best of the recent ones')
  t.equal(clock.errorBoundMs, 50)
})

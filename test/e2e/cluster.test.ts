import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { Config } from '../../src/config.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { startBalancer, type Balancer } from '../helpers/e2e-balancer.js'
import { connected, loadDemo, openPair, type DemoPage } from '../helpers/e2e-demo.js'
import { startInstance, type Instance } from '../helpers/instances.js'
import { requireRedis, startRedis } from '../helpers/redis-server.js'
import { signTestToken } from '../helpers/tokens.js'

/**
 * Scenarios 4 and 6: calls across instances and through a drain. The pages reach the instances
 * through one origin (a TCP balancer that, like a real one, routes new connections to ready
 * instances only). Tokens are signed with the shared JWT_SECRET and handed over as `#token=`,
 * because development tokens are per process.
 *
 * With redis-server: cross-instance (A on instance 1, B on instance 2, one Redis). Without it
 * (locally only; CI=true fails): single-instance variants.
 */

const { skip } = requireE2E(t, { turnserver: false })
if (skip === false) {
  const browser = await launchBrowser(t)
  const redis = requireRedis(t).skip === false ? await startRedis(t) : undefined
  t.comment(redis ? 'cross-instance variants (Redis registry)' : '!!! redis-server missing: single-instance variants of scenarios 4 and 6 !!!')

  const common: Partial<Config> = {
    AUDIT_LOG_LEVEL: 'silent',
    METRICS_ENABLED: false,
    STUN_URLS: '',
    TURN_URLS: '',
    // Drained clients come back within 0.3 s instead of the production spread of 5 s.
    RECONNECT_JITTER_MS: 300
  }
  const port = (instance: Instance): number => Number(new URL(instance.base).port)
  /**
   * One after the other, not side by side: building an app is synchronous work (schemas compiled,
   * modules loaded) that can hold this process's event loop for over a second on a loaded runner, and
   * the other instance's Redis startup commands (1 s timeout) then fail ("Command timed out", CI).
   */
  async function startTwo (t: Test, a: Partial<Config>, b: Partial<Config>): Promise<[Instance, Instance]> {
    const first = await startInstance(t, a)
    return [first, await startInstance(t, b)]
  }
  const shared = (name: string): Partial<Config> => ({ ...common, INSTANCE_ID: name, ...(redis && { REDIS_URL: redis.url }) })

  async function tokens (room: string): Promise<{ a: string, b: string }> {
    const id = randomBytes(3).toString('hex')
    return {
      a: await signTestToken({ sub: `alice-${id}`, name: 'Alice', rooms: [room] }),
      b: await signTestToken({ sub: `bob-${id}`, name: 'Bob', rooms: [room] })
    }
  }

  /** A on instance 1 and B on instance 2 (or both on the one instance), connected. */
  async function callAcross (t: Test, instances: Instance[], lb: Balancer): Promise<{ a: DemoPage, b: DemoPage, peers: { a: string, b: string } }> {
    const [first, second = first] = instances as [Instance, Instance?]
    const room = `e2e-cluster-${randomBytes(4).toString('hex')}`
    lb.prefer(port(first))
    const { a, b } = await openPair(browser, lb.url, { room, tokens: await tokens(room), beforeB: () => lb.prefer(port(second)) }, t)
    const [sa, sb] = await Promise.all([a.waitFor('connected', connected), b.waitFor('connected', connected)])
    const peers = { a: sa.peerId ?? '', b: sb.peerId ?? '' }
    t.ok(first.app.signaling.hub.connections.has(peers.a), 'A is served by instance 1')
    t.ok(second.app.signaling.hub.connections.has(peers.b), `B is served by instance ${instances.length}`)
    return { a, b, peers }
  }

  /**
   * Page problems after a drain, less the two console lines a drain may cause and the client retries:
   * a reconnect that reached the draining instance before the balancer stopped routing to it (its
   * WebSocket handshake cut off, or its preflight answered 503). Anything else still counts.
   */
  const DRAIN_RETRY = /^console: (WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/v1\/signal\?[^']*' failed: Connection closed before receiving a handshake response|Failed to load resource: the server responded with a status of 503 \(Service Unavailable\))$/
  const problemsAfterDrain = (...pages: DemoPage[]): string[] => pages.flatMap((p) => p.problems).filter((line) => !DRAIN_RETRY.test(line))

  async function chatBothWays (a: DemoPage, b: DemoPage, text: string): Promise<void> {
    await a.chat(`${text} (from A)`)
    await b.waitFor('shown A\'s line', (s) => s.chat.some((c) => c.from === 'them' && c.text === `${text} (from A)`))
    await b.chat(`${text} (from B)`)
    await a.waitFor('shown B\'s line', (s) => s.chat.some((c) => c.from === 'them' && c.text === `${text} (from B)`))
  }

  t.test('the page on a server without development tokens: asks for a token and shows why one is refused', async (t) => {
    const instance = await startInstance(t, { ...common, INSTANCE_ID: 'e2e-tokens' })
    const room = `e2e-tokens-${randomBytes(4).toString('hex')}`
    const page = await loadDemo(browser, instance.base, { room })
    t.teardown(() => page.close())
    const tryJoin = async (token: string | undefined, code: RegExp): Promise<void> => {
      const previous = (await page.state()).events.length
      if (token !== undefined) await page.page.fill('#token', token)
      await page.page.click('#join')
      const s = await page.waitFor(`refused with ${code}`, (st) => st.events.length > previous && code.test(st.error?.code ?? '') && st.signaling === 'idle')
      t.match(await page.page.textContent('#error'), s.error?.code ?? '', `the page shows ${s.error?.code}`)
    }
    await tryJoin(undefined, /^SWB_CLIENT_TOKEN_UNAVAILABLE$/)
    t.ok(await page.page.isVisible('#token'), 'the token field appears')
    await tryJoin(await signTestToken({ sub: 'mallory', rooms: [room] }, { secret: 'another-secret-that-is-long-enough-0123456789' }), /^SWB_AUTH_/)
    await tryJoin(await signTestToken({ sub: 'late', rooms: [room] }, { expiresIn: '-5m' }), /^SWB_AUTH_TOKEN_EXPIRED$/)
    await tryJoin(await signTestToken({ sub: 'nosy', rooms: ['another-room'] }), /^SWB_ROOM_FORBIDDEN$/)
    await page.page.fill('#token', await signTestToken({ sub: 'carol', rooms: [room] }))
    const joined = await page.join()
    t.equal(joined.userId, 'carol', 'a valid token joins')
    t.equal(joined.error, undefined, 'and clears the error')
  })

  const title4 = redis
    ? '4. cross-instance: page A on instance 1, page B on instance 2, one Redis; the call connects'
    : '4. single instance (no redis-server): both pages on one instance behind the balancer; the call connects'
  t.test(title4, async (t) => {
    const instances = redis
      ? await startTwo(t, shared('e2e-4a'), shared('e2e-4b'))
      : [await startInstance(t, shared('e2e-4'))]
    const lb = await startBalancer(t, instances.map(port))
    const { a, b, peers } = await callAcross(t, instances, lb)
    if (redis) t.notOk(instances[0]?.app.signaling.hub.connections.has(peers.b), 'B is not on instance 1')
    await chatBothWays(a, b, 'across instances')
    await Promise.all([a, b].map((p) => p.waitFor('receiving video', (s) => s.media.videoFramesDecoded > 0)))
    t.same([...a.problems, ...b.problems], [], 'no page errors')
  })

  if (redis) {
    t.test('6. drain: A\'s instance drains; A resumes on instance 2 through Redis and the call recovers', async (t) => {
      const instances = await startTwo(t, shared('e2e-6a'), shared('e2e-6b'))
      const [one, two] = instances as [Instance, Instance]
      const lb = await startBalancer(t, instances.map(port))
      const { a, b, peers } = await callAcross(t, instances, lb)
      const bEventsBefore = (await b.state()).events.length

      await one.app.signaling.drain(5000)
      t.equal(one.app.signaling.hub.connections.size, 0, 'instance 1 has no connections left')

      const after = await a.waitFor('resumed elsewhere with an ICE restart', (s) => s.events.includes('welcome (resumed)') && s.iceRestarts >= 1 && connected(s))
      t.ok(after.events.includes('server is draining: moving'), 'A was told to move')
      t.equal(after.peerId, peers.a, 'same peerId after the move')
      t.ok(two.app.signaling.hub.connections.has(peers.a), 'A is now served by instance 2')
      const bAfter = await b.waitFor('ICE restarted', (s) => s.iceRestarts >= 1 && connected(s))
      const bNew = bAfter.events.slice(bEventsBefore)
      t.notOk(bNew.some((e) => e.startsWith('peer-left')), `B never saw peer-left (B's events since the drain: ${bNew.join(', ')})`)
      t.equal(after.events.filter((e) => e === 'call created').length, 1, 'A kept its RTCPeerConnection')
      await chatBothWays(a, b, 'after the drain')
      t.same(problemsAfterDrain(a, b), [], 'no page errors (beyond a retried reconnect)')
    })
  }

  t.test('6. drain without shared state: both pages move to a fresh instance, join again and the call recovers', async (t) => {
    // No Redis: instance 2 knows nothing of the sessions on instance 1 (a single-replica restart).
    const instances = await startTwo(t, { ...common, INSTANCE_ID: 'e2e-6m1' }, { ...common, INSTANCE_ID: 'e2e-6m2' })
    const [one, two] = instances as [Instance, Instance]
    const lb = await startBalancer(t, instances.map(port))
    const { a, b, peers } = await callAcross(t, [one], lb)

    await one.app.signaling.drain(5000)
    const recovered = (s: Parameters<typeof connected>[0]): boolean =>
      s.events.some((e) => e.startsWith('session lost (SWB_RESUME_UNKNOWN)')) && s.events.includes('partner back on a new session') && s.iceRestarts >= 1 && connected(s)
    const [sa, sb] = await Promise.all([a.waitFor('back in the call on instance 2', recovered), b.waitFor('back in the call on instance 2', recovered)])
    t.not(sa.peerId, peers.a, 'A has a new session')
    t.ok(two.app.signaling.hub.connections.has(sa.peerId ?? ''), 'A is served by instance 2')
    t.ok(two.app.signaling.hub.connections.has(sb.peerId ?? ''), 'B is served by instance 2')
    t.equal(sa.partner?.peerId, sb.peerId, 'A re-addressed its signaling to B\'s new session')
    t.equal(sb.partner?.peerId, sa.peerId, 'B re-addressed its signaling to A\'s new session')
    for (const [name, s] of [['A', sa], ['B', sb]] as const) {
      t.equal(s.events.filter((e) => e === 'call created').length, 1, `${name} kept its RTCPeerConnection (media never stopped)`)
    }
    await chatBothWays(a, b, 'after the restart')
    t.same(problemsAfterDrain(a, b), [], 'no page errors (beyond a retried reconnect)')
  })
}
else t.test(`scenarios 4 and 6: ${skip}`, { skip }, async () => {})

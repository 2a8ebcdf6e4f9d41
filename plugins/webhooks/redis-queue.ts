import { createHash, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { connectRedis, createRedisClient, type RedisClient, type RedisConnectionSettings } from '../registry/redis-connection.js'
import type { Clock, Endpoint, Report } from './delivery.js'
import { fromRecorded, type QueuedEvent, type WebhookEventType } from './events.js'
import type { RecordedEvent, RecordedEventSink } from '../registry/types.js'
import { RoomLanes } from './lanes.js'
import type { WebhookQueue } from './queue.js'

/**
 * The shared, durable queue: one Redis stream per endpoint, holding every event not yet acknowledged
 * (or dropped) by that endpoint, in the order the instances queued them. One instance at a time
 * delivers an endpoint's stream: the holder of its lease, a key with a short TTL it keeps renewing.
 * It reads through a consumer group with a single consumer name, so when it dies, the next holder
 * reads the entries it had taken but not finished (the group's pending list) before the new ones:
 * each event is delivered by one instance, at least once, and the events of a room stay in order.
 * A delivered or dropped event leaves the stream (XACK and XDEL in one step).
 */

const GROUP = 'deliver'
/** Every holder reads as the same consumer, so a new holder inherits the pending list of the last one. */
const CONSUMER = 'holder'
const READ_BATCH = 100
/** Entries held in memory by the holder at most; it reads more once they are done. */
const READ_AHEAD = 1000

/**
 * KEYS stream · ARGV max, id, room, type, body → 1 queued, 0 the stream holds `max` already. The
 * group is created with the stream, so no entry is ever added before the group can see it.
 */
const ADD = `if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('XGROUP', 'CREATE', KEYS[1], '${GROUP}', '0', 'MKSTREAM') end
redis.call('XADD', KEYS[1], '*', 'id', ARGV[2], 'room', ARGV[3], 'type', ARGV[4], 'body', ARGV[5])
return 1`
/**
 * KEYS stream · ARGV max, then id, room, type, body of each event → how many were queued, in order (the
 * rest found the stream full). One step per endpoint for a room's batch: nothing else lands in between.
 */
const ADD_MANY = `local added = 0
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('XGROUP', 'CREATE', KEYS[1], '${GROUP}', '0', 'MKSTREAM') end
for i = 2, #ARGV, 4 do
  if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return added end
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'room', ARGV[i + 1], 'type', ARGV[i + 2], 'body', ARGV[i + 3])
  added = added + 1
end
return added`
/** KEYS stream · ARGV entryId: the event is done with (delivered or dropped). */
const DONE = `redis.call('XACK', KEYS[1], '${GROUP}', ARGV[1])
return redis.call('XDEL', KEYS[1], ARGV[1])`
/** KEYS lease · ARGV me, ttlMs → 1 still ours (renewed), 0 lost. */
const RENEW = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`
/** KEYS lease · ARGV me: let go, so that another instance takes over at once. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`

interface QueueCommands {
  swbWebhookAdd (stream: string, max: number, id: string, room: string, type: string, body: string): Promise<0 | 1>
  swbWebhookAddMany (stream: string, max: number, ...events: string[]): Promise<number>
  swbWebhookDone (stream: string, entryId: string): Promise<number>
  swbWebhookRenew (lease: string, me: string, ttlMs: number): Promise<0 | 1>
  swbWebhookRelease (lease: string, me: string): Promise<1>
}
type Commands = RedisClient & QueueCommands

export interface RedisQueueOptions {
  settings: RedisConnectionSettings
  keyPrefix: string
  /** The lease TTL: an instance silent this long no longer delivers (REDIS_INSTANCE_TTL_SECONDS). */
  leaseMs: number
  max: number
}

/** The keys of one endpoint's queue; the {w:…} hash tag keeps them on one Cluster slot. */
function endpointKeys (prefix: string, url: string): { stream: string, lease: string } {
  const id = createHash('sha256').update(url).digest('hex').slice(0, 16)
  return {
    /** stream of pending events: fields id (webhook-id), room, type, body; consumer group `deliver`. */
    stream: `${prefix}webhooks:{w:${id}}:events`,
    /** string: the instance delivering this endpoint's events, with a TTL it renews. */
    lease: `${prefix}webhooks:{w:${id}}:lease`
  }
}

/** One endpoint's stream, and its delivery while this instance holds the lease. */
class StreamOutbox {
  readonly stream: string
  readonly lease: string
  private holding: { abort: AbortController, lanes: RoomLanes<Entry> } | undefined

  constructor (private readonly queue: RedisQueue, readonly endpoint: Endpoint) {
    ({ stream: this.stream, lease: this.lease } = endpointKeys(queue.options.keyPrefix, endpoint.url))
  }

  get held (): boolean { return this.holding !== undefined }

  /** Renews the lease, or tries to take it; starts or stops delivering accordingly. */
  async tick (): Promise<void> {
    const { client, me, options } = this.queue
    // Still ours even when we stopped delivering (a failed read): then we simply start again.
    if (await client.swbWebhookRenew(this.lease, me, options.leaseMs) === 1) {
      if (this.holding === undefined) this.hold()
      return
    }
    if (this.holding !== undefined) {
      this.letGo('lease lost')
      return
    }
    if (await client.set(this.lease, me, 'PX', options.leaseMs, 'NX') === 'OK') this.hold()
  }

  private hold (): void {
    const abort = new AbortController()
    const lanes = new RoomLanes<Entry>(async ({ entryId, event }) => {
      const result = await this.endpoint.deliver(event, abort.signal)
      if (result === 'aborted') return
      await this.queue.client.swbWebhookDone(this.stream, entryId)
    })
    this.holding = { abort, lanes }
    this.queue.log.info({ endpoint: this.endpoint.label }, 'delivering webhooks for this endpoint')
    void this.read(abort.signal, lanes).catch((err: unknown) => {
      if (abort.signal.aborted) return
      this.queue.log.warn({ err: { message: (err as Error).message }, endpoint: this.endpoint.label }, 'reading the webhook queue failed')
      this.letGo('read failed')
    })
  }

  /** Stops delivering here: what was taken and not finished stays pending for the next holder. */
  letGo (why: string): void {
    const holding = this.holding
    if (holding === undefined) return
    this.holding = undefined
    holding.abort.abort()
    holding.lanes.stop()
    this.queue.log.info({ endpoint: this.endpoint.label, why }, 'stopped delivering webhooks for this endpoint')
  }

  /** The pending list of the last holder first (in order), then new entries as they come. */
  private async read (signal: AbortSignal, lanes: RoomLanes<Entry>): Promise<void> {
    const { reader, blockMs } = this.queue
    let cursor = '0'
    while (!signal.aborted) {
      if (lanes.size >= READ_AHEAD) {
        await lanes.idle()
        continue
      }
      const block = cursor === '>' ? ['BLOCK', blockMs] : []
      let reply: StreamReply | null
      try {
        reply = await reader.call('XREADGROUP', 'GROUP', GROUP, CONSUMER, 'COUNT', READ_BATCH, ...block, 'STREAMS', this.stream, cursor) as StreamReply | null
      } catch (err) {
        // Redis came back empty (or the stream was deleted): the group goes with it; recreate and go on.
        if (!(err as Error).message.startsWith('NOGROUP')) throw err
        await this.queue.client.xgroup('CREATE', this.stream, GROUP, '0', 'MKSTREAM').catch(() => {})
        continue
      }
      if (signal.aborted) return
      const entries = reply?.[0]?.[1] ?? []
      if (cursor !== '>') cursor = entries.length === 0 ? '>' : entries[entries.length - 1]?.[0] ?? '>'
      for (const [entryId, fields] of entries) {
        const event = eventOf(entryId, fields)
        // Nothing to deliver (deleted meanwhile, or not ours): out of the pending list.
        if (event === undefined) await this.queue.client.swbWebhookDone(this.stream, entryId)
        else lanes.push({ room: event.room, entryId, event })
      }
    }
  }
}

type StreamReply = Array<[stream: string, entries: Array<[id: string, fields: string[] | null]>]>

/** An event read from the stream, with the entry id that acknowledges it. */
interface Entry { room: string, entryId: string, event: QueuedEvent }

function eventOf (entryId: string, fields: string[] | null): QueuedEvent | undefined {
  if (fields === null) return undefined
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string)
  const [id, room, type, body] = [map.get('id'), map.get('room'), map.get('type'), map.get('body')]
  if (id === undefined || room === undefined || type === undefined || body === undefined) return undefined
  return { id, room, type: type as WebhookEventType, body, queuedAt: streamTime(entryId) }
}

/** A stream entry id is `<ms>-<n>`, the Redis time it was added. */
function streamTime (entryId: string): number {
  return Number(entryId.split('-')[0])
}

export class RedisQueue implements WebhookQueue, RecordedEventSink {
  readonly me = randomBytes(8).toString('hex')
  readonly blockMs: number
  private readonly outboxes: StreamOutbox[]
  private readonly inflight = new Set<Promise<unknown>>()
  private timer: NodeJS.Timeout | undefined
  private closed = false

  private constructor (
    readonly client: Commands,
    readonly reader: RedisClient,
    endpoints: Endpoint[],
    readonly options: RedisQueueOptions,
    private readonly clock: Clock,
    private readonly report: Report,
    readonly log: FastifyBaseLogger
  ) {
    // A blocking read must answer before the command timeout cuts it off.
    this.blockMs = Math.max(10, Math.floor(options.settings.commandTimeoutMs / 2))
    this.outboxes = endpoints.map((endpoint) => new StreamOutbox(this, endpoint))
  }

  static async connect (endpoints: Endpoint[], options: RedisQueueOptions, clock: Clock, report: Report, log: FastifyBaseLogger): Promise<RedisQueue> {
    const client = createRedisClient(options.settings, 'switchboard:webhooks')
    const reader = createRedisClient(options.settings, 'switchboard:webhooks-reader')
    try {
      await connectRedis(client, options.settings)
      await connectRedis(reader, options.settings)
    } catch (err) {
      client.disconnect()
      reader.disconnect()
      throw err
    }
    client.defineCommand('swbWebhookAdd', { numberOfKeys: 1, lua: ADD })
    client.defineCommand('swbWebhookAddMany', { numberOfKeys: 1, lua: ADD_MANY })
    client.defineCommand('swbWebhookDone', { numberOfKeys: 1, lua: DONE })
    client.defineCommand('swbWebhookRenew', { numberOfKeys: 1, lua: RENEW })
    client.defineCommand('swbWebhookRelease', { numberOfKeys: 1, lua: RELEASE })
    const queue = new RedisQueue(client as Commands, reader, endpoints, options, clock, report, log)
    queue.start()
    return queue
  }

  private start (): void {
    const tick = (): void => {
      for (const outbox of this.outboxes) {
        outbox.tick().catch((err: unknown) => {
          // Unsure whether we still hold it: stop, another instance (or we, next time) takes over.
          outbox.letGo('lease check failed')
          this.log.debug({ err: { message: (err as Error).message } }, 'webhook lease check failed')
        })
      }
    }
    // Renewed three times per TTL: one slow round trip does not cost the lease.
    this.timer = setInterval(tick, Math.max(50, Math.floor(this.options.leaseMs / 3)))
    this.timer.unref()
    tick()
  }

  enqueue (event: QueuedEvent): void {
    for (const outbox of this.outboxes) {
      const work = this.client.swbWebhookAdd(outbox.stream, this.options.max, event.id, event.room, event.type, event.body).then((added) => {
        if (added === 1) return
        this.report(event.type, 'overflow')
        this.log.warn({ webhookId: event.id, type: event.type, room: event.room, endpoint: outbox.endpoint.label, max: this.options.max },
          'webhook queue full: event dropped')
      }, (err: unknown) => {
        this.report(event.type, 'dropped')
        this.log.warn({ err: { message: (err as Error).message }, webhookId: event.id, type: event.type, room: event.room }, 'could not queue a webhook event')
      })
      this.inflight.add(work)
      void work.finally(() => this.inflight.delete(work))
    }
  }

  /**
   * One room's recorded events (the registry's outbox mover), in order, to every endpoint. Resolves once
   * they are in every stream (or counted as overflow); rejects when Redis failed, and the mover retries.
   */
  async add (recorded: RecordedEvent[]): Promise<void> {
    const events = recorded.flatMap((r) => {
      const event = fromRecorded(r)
      return event === undefined ? [] : [event]
    })
    if (events.length === 0) return
    const args = events.flatMap((e) => [e.id, e.room, e.type, e.body])
    await Promise.all(this.outboxes.map(async (outbox) => {
      const added = await this.client.swbWebhookAddMany(outbox.stream, this.options.max, ...args)
      for (const event of events.slice(added)) {
        this.report(event.type, 'overflow')
        this.log.warn({ webhookId: event.id, type: event.type, room: event.room, endpoint: outbox.endpoint.label, max: this.options.max },
          'webhook queue full: event dropped')
      }
    }))
  }

  async depth (): Promise<number> {
    const lengths = await Promise.all(this.outboxes.map(async (o) => this.client.xlen(o.stream)))
    return lengths.reduce((sum, n) => sum + n, 0)
  }

  async oldestAgeSeconds (): Promise<number> {
    const firsts = await Promise.all(this.outboxes.map(async (o) => this.client.xrange(o.stream, '-', '+', 'COUNT', 1)))
    const times = firsts.flatMap((entries) => entries.map(([id]) => streamTime(id)))
    if (times.length === 0) return 0
    return Math.max(0, (this.clock.now() - Math.min(...times)) / 1000)
  }

  /** Which endpoints this instance delivers right now (for tests and logs). */
  holding (): boolean[] {
    return this.outboxes.map((o) => o.held)
  }

  /** Events stay in Redis: the lease is let go, so another instance delivers them right away. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    await Promise.allSettled([...this.inflight])
    for (const outbox of this.outboxes) {
      if (!outbox.held) continue
      outbox.letGo('shutting down')
      await this.client.swbWebhookRelease(outbox.lease, this.me).catch(() => {})
    }
    this.client.disconnect()
    this.reader.disconnect()
  }
}

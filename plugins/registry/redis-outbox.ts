import type { RedisRegistry } from './redis-registry.js'
import type { RecordedEvent, RecordedEventSink } from './types.js'

/** Events moved per step: a bounded script reply and queue batch. */
const MOVE_BATCH = 100

/**
 * Moves rooms' outboxes into a durable queue (the webhooks' Redis streams), in order.
 *
 * Why outboxes: events decided by two instances in the same millisecond used to reach the queue in
 * either order, and an instance that died between its room step and its enqueue lost them. Now the room
 * scripts record each event in the room's own stream (the room's slot: Cluster-safe) in the step that
 * makes the change, so the outbox order is the order of the changes and nothing is lost with an instance.
 * Reordering by a sequence at delivery time instead would have to hold gaps for a while and still lose
 * what a dead instance never queued.
 *
 * Moving keeps the order because one instance at a time moves a room (the room's mover key, taken and
 * released inside the room's scripts) and entries leave the outbox only once queued. A mover that dies
 * or loses its key may leave events that are queued again later: same room and key, so the same
 * webhook-id (at least once, as documented).
 *
 * Nothing is stranded: before a room step that may record, the instance adds the room to its own set of
 * outboxes to move (RedisKeys.instanceOutboxes) and takes it out only after moving it with no step of
 * its own still in flight there. A room whose move failed is retried every reap interval; the reaper of
 * a dead instance takes over that instance's set. When another instance is moving the room, the room is
 * left to it: its move goes on while entries remain, and its own set names the room until it is done.
 */
export class RedisOutboxes {
  /** Room steps in flight here, per room: the room stays in our set while one may still record. */
  private readonly pending = new Map<string, number>()
  /** Rooms being moved here; true when another move was asked for meanwhile. */
  private readonly moving = new Map<string, boolean>()
  /** Rooms to move again later: a move failed, or another (perhaps dead) instance held the room. */
  private readonly retry = new Set<string>()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly registry: RedisRegistry, private readonly sink: RecordedEventSink, private readonly lockMs: number) {}

  start (intervalMs: number): void {
    this.timer = setInterval(() => this.retryAll(), intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /**
   * Runs a room step that may record events in these rooms' outboxes: the rooms are in our set before
   * it runs, and moved once it has (whatever it answered: a timed-out step may still have run).
   */
  async recording<T> (rooms: string[], step: () => Promise<T>): Promise<T> {
    for (const room of rooms) this.pending.set(room, (this.pending.get(room) ?? 0) + 1)
    try {
      const { keys, instanceId } = this.registry
      if (rooms.length > 0) await this.registry.addToInstanceSet(keys.instanceOutboxes(instanceId), ...rooms)
      return await step()
    } finally {
      for (const room of rooms) {
        const n = (this.pending.get(room) ?? 1) - 1
        if (n > 0) this.pending.set(room, n)
        else this.pending.delete(room)
        this.schedule(room, false)
      }
    }
  }

  /**
   * A dead instance's rooms become ours (our set first, so our own reaper finds them if we die too),
   * and are moved as soon as the dead one's mover keys have lapsed.
   */
  async adopt (deadInstance: string): Promise<void> {
    const { client, keys, instanceId } = this.registry
    const rooms = await client.smembers(keys.instanceOutboxes(deadInstance))
    if (rooms.length > 0) await this.registry.addToInstanceSet(keys.instanceOutboxes(instanceId), ...rooms)
    await client.del(keys.instanceOutboxes(deadInstance))
    for (const room of rooms) this.schedule(room, true)
  }

  /** Rooms whose move must be retried; moved again after an outage, or on the next tick. */
  retryAll (): void {
    if (!this.registry.ready) return
    for (const room of [...this.retry]) this.schedule(room, true)
  }

  /**
   * Moves the room here unless a move of it is running (which then goes round once more). `owed`: the
   * room must be moved by us even when another instance holds it (it may be a dead one).
   */
  private schedule (room: string, owed: boolean): void {
    if (owed) this.retry.add(room)
    if (this.moving.has(room)) {
      this.moving.set(room, true)
      return
    }
    this.moving.set(room, false)
    this.registry.track(this.drain(room), 'move a room outbox')
  }

  private async drain (room: string): Promise<void> {
    const { client, keys, instanceId } = this.registry
    try {
      for (;;) {
        this.moving.set(room, false)
        const moved = await this.move(room)
        if (this.moving.get(room) === true) continue
        // Held by another instance: fine for our own steps (it goes on while entries remain), but a
        // room we owe (a failed move, a dead instance's) waits for the next tick.
        if (!moved && this.retry.has(room)) return
        this.retry.delete(room)
        // A step of ours still in flight will ask again; until it has, the room stays in our set.
        if ((this.pending.get(room) ?? 0) > 0) return
        // Sent before any later step's SADD of the same room (same key, same connection): never lost.
        await client.srem(keys.instanceOutboxes(instanceId), room)
        if (this.moving.get(room) !== true) return
      }
    } catch (err) {
      this.retry.add(room)
      this.registry.log.debug({ err: { message: (err as Error).message }, room }, 'moving a room outbox failed; retrying')
    } finally {
      this.moving.delete(room)
    }
  }

  /** Moves the room's outbox until it is empty; false when another instance is moving it. */
  private async move (room: string): Promise<boolean> {
    const r = this.registry
    const outbox = [r.keys.roomEvents(room), r.keys.roomMover(room)]
    for (;;) {
      const entries = await r.script('swbOutboxTake', outbox, [r.instanceId, this.lockMs, MOVE_BATCH])
      if (entries === null) return false
      if (entries.length === 0) return true
      await this.sink.add(entries.flatMap(([key, fields]) => {
        const event = recordedEvent(room, key, fields)
        return event === undefined ? [] : [event]
      }))
      const left = await r.script('swbOutboxTrim', outbox, [r.instanceId, this.lockMs, ...entries.map(([key]) => key)])
      if (left === 0) return true
      if (left < 0) return false
    }
  }
}

function recordedEvent (room: string, key: string, fields: string[]): RecordedEvent | undefined {
  let type: string | undefined
  let data: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'type') type = fields[i + 1]
    else if (fields[i] === 'data') data = fields[i + 1]
  }
  if (type === undefined || data === undefined) return undefined
  return { room, key, at: Number(key.split('-')[0]), type, data }
}

/** Longest delay a Node timer takes (about 24.8 days); later deadlines are re-armed. */
const MAX_TIMER_MS = 2_147_483_647

/** What the queue keeps on each item: when it is due, and where it sits in the heap (-1: not queued). */
export interface Scheduled {
  dueAt: number
  dueIndex: number
}

/**
 * Deadlines of many items behind one timer: a binary min-heap by `dueAt`, the timer armed for the
 * earliest. Every connection has a token deadline (the expiry warning, then the expiry); a Node timer
 * each costs about 300 bytes per idle connection (the Timeout, its closure, one timer list per distinct
 * duration), a heap slot costs 8. Items carry their own heap index, so cancelling is O(log n).
 */
export class DeadlineQueue<T extends Scheduled> {
  private readonly heap: T[] = []
  private timer: NodeJS.Timeout | undefined
  /** When the timer fires (Infinity: not armed). */
  private armedAt = Infinity

  constructor (
    private readonly onDue: (item: T) => void,
    private readonly now: () => number = Date.now
  ) {}

  get size (): number { return this.heap.length }

  /** Queues `item` for `at` (ms since the epoch), or moves it there if it is queued already. */
  schedule (item: T, at: number): void {
    if (item.dueIndex >= 0) this.remove(item)
    item.dueAt = at
    item.dueIndex = this.heap.length
    this.heap.push(item)
    this.up(item.dueIndex)
    if (at < this.armedAt) this.arm()
  }

  cancel (item: T): void {
    if (item.dueIndex >= 0) this.remove(item)
    // The timer may stay armed for a cancelled root: when it fires, nothing is due and it re-arms.
  }

  /** Stops the timer; queued items stay queued (and are never called). */
  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.armedAt = Infinity
    for (const item of this.heap) item.dueIndex = -1
    this.heap.length = 0
  }

  private readonly fire = (): void => {
    this.timer = undefined
    this.armedAt = Infinity
    const now = this.now()
    for (let root = this.heap[0]; root !== undefined && root.dueAt <= now; root = this.heap[0]) {
      this.remove(root)
      this.onDue(root) // may schedule it again
    }
    if (this.heap.length > 0 && this.timer === undefined) this.arm()
  }

  private arm (): void {
    const root = this.heap[0]
    if (root === undefined) return
    clearTimeout(this.timer)
    const delay = Math.min(Math.max(root.dueAt - this.now(), 0), MAX_TIMER_MS)
    this.armedAt = root.dueAt
    this.timer = setTimeout(this.fire, delay)
    this.timer.unref()
  }

  private remove (item: T): void {
    const i = item.dueIndex
    const last = this.heap.pop() as T
    item.dueIndex = -1
    if (last === item) return
    this.heap[i] = last
    last.dueIndex = i
    this.down(i)
    this.up(last.dueIndex)
  }

  private up (i: number): void {
    const heap = this.heap
    const item = heap[i] as T
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as T
      if (p.dueAt <= item.dueAt) break
      heap[i] = p
      p.dueIndex = i
      i = parent
    }
    heap[i] = item
    item.dueIndex = i
  }

  private down (i: number): void {
    const heap = this.heap
    const n = heap.length
    const item = heap[i] as T
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      const right = child + 1
      if (right < n && (heap[right] as T).dueAt < (heap[child] as T).dueAt) child = right
      const c = heap[child] as T
      if (c.dueAt >= item.dueAt) break
      heap[i] = c
      c.dueIndex = i
      i = child
    }
    heap[i] = item
    item.dueIndex = i
  }
}

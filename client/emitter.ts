import { ClientErrorCode, SwitchboardError } from './errors.js'

export type Listener<T> = (event: T) => void

/** Surfaces a listener's exception without breaking the emitter (the same way a DOM event listener's would be). */
function reportListenerError (err: unknown): void {
  const report = (globalThis as { reportError?: (err: unknown) => void }).reportError
  if (typeof report === 'function') report(err)
  else queueMicrotask(() => { throw err })
}

/** A small typed event emitter that works in browsers and Node (no node:events). */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events> (type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(type, set)
    }
    set.add(listener as Listener<never>)
    return () => this.off(type, listener)
  }

  off<K extends keyof Events> (type: K, listener: Listener<Events[K]>): void {
    this.listeners.get(type)?.delete(listener as Listener<never>)
  }

  once<K extends keyof Events> (type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (event) => {
      off()
      listener(event)
    })
    return off
  }

  /**
   * Resolves with the next `type` event that passes `filter`; rejects with SWB_CLIENT_TIMEOUT after
   * `timeoutMs` (no timeout when omitted).
   */
  waitFor<K extends keyof Events> (type: K, options: { filter?: (event: Events[K]) => boolean, timeoutMs?: number } = {}): Promise<Events[K]> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const off = this.on(type, (event) => {
        if (options.filter && !options.filter(event)) return
        off()
        clearTimeout(timer)
        resolve(event)
      })
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          off()
          reject(new SwitchboardError(ClientErrorCode.TIMEOUT, `No "${String(type)}" event within ${options.timeoutMs} ms`))
        }, options.timeoutMs)
      }
    })
  }

  protected emit<K extends keyof Events> (type: K, event: Events[K]): void {
    const set = this.listeners.get(type)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(event)
      } catch (err) {
        reportListenerError(err)
      }
    }
  }
}

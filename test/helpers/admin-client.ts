/** An admin API key long enough for ADMIN_API_KEYS (tests configure it). */
export const ADMIN_KEY = 'test-admin-key-0123456789abcdef'

export interface AdminAnswer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** Calls the admin API of the instance at `base` (http://127.0.0.1:port) with `key` (null: no Authorization header), over real HTTP. */
export function adminClient (base: string, key: string | null = ADMIN_KEY) {
  return async (method: string, path: string, body?: unknown): Promise<AdminAnswer> => {
    const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${base}/v1/admin${path}`, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> }
  }
}

/** A room name as it goes into an admin path (`clinic-42/a` → `clinic-42%2Fa`). */
export const enc = encodeURIComponent

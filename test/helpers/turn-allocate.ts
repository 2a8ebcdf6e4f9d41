import dgram from 'node:dgram'
import { createHash, createHmac, randomBytes } from 'node:crypto'

/**
 * A minimal STUN/TURN client over UDP (RFC 8489/8656), enough to prove that a credential really
 * allocates a relay on coturn and to tell a 401 from a timeout. Long-term credentials only. The
 * codec (encode, decode, attributes) is exported for the TLS client in turnserver.ts.
 */

const MAGIC_COOKIE = 0x2112a442
export const METHOD = { BINDING: 0x0001, ALLOCATE: 0x0003, REFRESH: 0x0004 } as const
export const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  LIFETIME: 0x000d,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020
} as const
export const UDP_PROTOCOL = 17

export interface StunMessage {
  cls: 'request' | 'indication' | 'success' | 'error'
  attrs: Map<number, Buffer>
}

export function attribute (type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4))
  padded.writeUInt16BE(type, 0)
  padded.writeUInt16BE(value.length, 2)
  value.copy(padded, 4)
  return padded
}

export function u32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

export function encode (method: number, attrs: Buffer[], key?: Buffer): { message: Buffer, transactionId: Buffer } {
  const transactionId = randomBytes(12)
  const header = Buffer.alloc(20)
  header.writeUInt16BE(method, 0)
  header.writeUInt32BE(MAGIC_COOKIE, 4)
  transactionId.copy(header, 8)
  let body = Buffer.concat(attrs)
  if (key !== undefined) {
    // MESSAGE-INTEGRITY covers the message with its length already counting the 24-byte MI attribute.
    header.writeUInt16BE(body.length + 24, 2)
    const mac = createHmac('sha1', key).update(Buffer.concat([header, body])).digest()
    body = Buffer.concat([body, attribute(ATTR.MESSAGE_INTEGRITY, mac)])
  }
  header.writeUInt16BE(body.length, 2)
  return { message: Buffer.concat([header, body]), transactionId }
}

export function decode (buf: Buffer): StunMessage | undefined {
  if (buf.length < 20 || buf.readUInt32BE(4) !== MAGIC_COOKIE) return undefined
  const type = buf.readUInt16BE(0)
  const length = buf.readUInt16BE(2)
  const attrs = new Map<number, Buffer>()
  for (let offset = 20; offset + 4 <= Math.min(buf.length, 20 + length);) {
    const attrType = buf.readUInt16BE(offset)
    const attrLength = buf.readUInt16BE(offset + 2)
    attrs.set(attrType, buf.subarray(offset + 4, offset + 4 + attrLength))
    offset += 4 + attrLength + ((4 - (attrLength % 4)) % 4)
  }
  const classBits = ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4)
  const cls = (['request', 'indication', 'success', 'error'] as const)[classBits] ?? 'error'
  return { cls, attrs }
}

export function errorOf (message: StunMessage): { code: number, reason: string } | undefined {
  const e = message.attrs.get(ATTR.ERROR_CODE)
  if (e === undefined || e.length < 4) return undefined
  return { code: (e[2]! & 7) * 100 + e[3]!, reason: e.subarray(4).toString('utf8') }
}

export function xorAddress (value: Buffer | undefined): string | undefined {
  if (value === undefined || value.length < 8 || value[1] !== 0x01) return undefined // IPv4 only
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16)
  const ip = (value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0
  return `${ip >>> 24}.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}:${port}`
}

class UdpStunClient {
  private readonly socket = dgram.createSocket('udp4')
  constructor (private readonly host: string, private readonly port: number) {}

  async open (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject)
      this.socket.bind(0, '127.0.0.1', () => { this.socket.off('error', reject); resolve() })
    })
  }

  /** Sends one request and waits for the answer with the same transaction id (undefined on timeout). */
  async exchange (method: number, attrs: Buffer[], key?: Buffer, timeoutMs = 2000): Promise<StunMessage | undefined> {
    const { message, transactionId } = encode(method, attrs, key)
    return new Promise((resolve) => {
      const onMessage = (buf: Buffer): void => {
        if (buf.length < 20 || !buf.subarray(8, 20).equals(transactionId)) return
        clearTimeout(timer)
        this.socket.off('message', onMessage)
        resolve(decode(buf))
      }
      const timer = setTimeout(() => { this.socket.off('message', onMessage); resolve(undefined) }, timeoutMs)
      this.socket.on('message', onMessage)
      this.socket.send(message, this.port, this.host)
    })
  }

  close (): void {
    this.socket.close()
  }
}

/** STUN Binding request: true when the server answers with success (used as a readiness probe). */
export async function stunBinding (host: string, port: number, timeoutMs = 300): Promise<{ ok: boolean, mapped?: string }> {
  const client = new UdpStunClient(host, port)
  await client.open()
  try {
    const answer = await client.exchange(METHOD.BINDING, [], undefined, timeoutMs)
    if (answer?.cls !== 'success') return { ok: false }
    const mapped = xorAddress(answer.attrs.get(ATTR.XOR_MAPPED_ADDRESS))
    return mapped === undefined ? { ok: true } : { ok: true, mapped }
  } finally {
    client.close()
  }
}

export type AllocateResult =
  | { ok: true, relayed: string, realm: string }
  | { ok: false, code: number, reason: string, realm?: string }

/**
 * TURN Allocate (UDP relay) with long-term credentials: the unauthenticated request is challenged (401 +
 * REALM + NONCE), then retried with MESSAGE-INTEGRITY keyed by MD5(username:realm:password). A successful
 * allocation is released at once (Refresh with LIFETIME 0). code 0 means no answer (timeout).
 */
export async function turnAllocate (host: string, port: number, username: string, password: string): Promise<AllocateResult> {
  const client = new UdpStunClient(host, port)
  await client.open()
  try {
    const transport = attribute(ATTR.REQUESTED_TRANSPORT, Buffer.from([UDP_PROTOCOL, 0, 0, 0]))
    const challenge = await client.exchange(METHOD.ALLOCATE, [transport])
    if (challenge === undefined) return { ok: false, code: 0, reason: 'timeout' }
    const realm = challenge.attrs.get(ATTR.REALM)?.toString('utf8')
    const nonce = challenge.attrs.get(ATTR.NONCE)
    if (challenge.cls !== 'error' || realm === undefined || nonce === undefined) {
      return { ok: false, code: errorOf(challenge)?.code ?? 0, reason: 'no 401 challenge with REALM and NONCE' }
    }
    const key = createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest()
    const auth = [attribute(ATTR.USERNAME, Buffer.from(username, 'utf8')), attribute(ATTR.REALM, Buffer.from(realm, 'utf8')), attribute(ATTR.NONCE, nonce)]
    const answer = await client.exchange(METHOD.ALLOCATE, [transport, ...auth], key)
    if (answer === undefined) return { ok: false, code: 0, reason: 'timeout', realm }
    if (answer.cls !== 'success') {
      const error = errorOf(answer) ?? { code: 0, reason: `unexpected ${answer.cls}` }
      return { ok: false, ...error, realm }
    }
    const relayed = xorAddress(answer.attrs.get(ATTR.XOR_RELAYED_ADDRESS)) ?? 'unknown'
    await client.exchange(METHOD.REFRESH, [attribute(ATTR.LIFETIME, u32(0)), ...auth], key, 500)
    return { ok: true, relayed, realm }
  } finally {
    client.close()
  }
}

/** The realm a TURN server announces in its 401 challenge (tells our coturn apart from a stray one). */
export async function turnRealm (host: string, port: number): Promise<string | undefined> {
  const client = new UdpStunClient(host, port)
  await client.open()
  try {
    const transport = attribute(ATTR.REQUESTED_TRANSPORT, Buffer.from([UDP_PROTOCOL, 0, 0, 0]))
    const challenge = await client.exchange(METHOD.ALLOCATE, [transport], undefined, 1000)
    return challenge?.attrs.get(ATTR.REALM)?.toString('utf8')
  } finally {
    client.close()
  }
}

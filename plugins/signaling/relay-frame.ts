import type { RelayBody } from '../registry/types.js'
import type { ClientMessageOf } from './messages.js'
import { memberCount, memberText } from './json-member.js'

/** The client messages relayed to one peer. */
export type RelayedMessage = ClientMessageOf<'offer' | 'answer' | 'candidate' | 'message'>

/**
 * The frame the recipient of a relayed message gets, as a RelayBody (serialized once, with the `seq`
 * the registry stamps): `{"seq":N,"type":…,"room":…,"from":…,<payload>}`, the payload being `sdp`,
 * `candidate` or `data`. `text` is the frame the sender sent, which `message` was parsed from.
 *
 * The payload is the sender's text as written, not serialized again: JSON.stringify of a 3 KB SDP
 * (its escaped line breaks take V8's slow path) cost about 5 µs, six times the copy. That is done only
 * when the text's member is certainly the value that was validated (json-member.ts); when it is not (a
 * key written twice or with escapes), the frame is serialized from the parsed message, as the recipient
 * would get it either way.
 */
export function relayBody (message: RelayedMessage, text: string, from: string): RelayBody {
  const key = payloadKey(message)
  const payload = senderText(message, key, text)
  if (payload === undefined) return new SerializedBody(message, from)
  // Room names and peer ids consist of characters JSON writes as they are (RoomName, PeerId in
  // messages.ts): they need no escaping.
  return new SplicedBody('"type":"' + message.type + '","room":"' + message.room + '","from":"' + from + '","' + key + '":', payload)
}

/** The sender's payload text between a head of our own and the closing brace. */
class SplicedBody implements RelayBody {
  readonly tail = '}'
  constructor (private readonly members: string, readonly payload: string) {}
  head (seq: number | undefined): string {
    return seq === undefined ? '{' + this.members : '{"seq":' + seq + ',' + this.members
  }
}

type PayloadKey = 'sdp' | 'candidate' | 'data'

function payloadKey (message: RelayedMessage): PayloadKey {
  switch (message.type) {
    case 'offer':
    case 'answer':
      return 'sdp'
    case 'candidate':
      return 'candidate'
    case 'message':
      return 'data'
  }
}

/** The payload's JSON text in the sender's frame, if it is certainly what was parsed and validated. */
function senderText (message: RelayedMessage, key: PayloadKey, text: string): string | undefined {
  const payload = memberText(text, key, keyCount(message))
  if (payload === undefined || message.type !== 'candidate' || message.candidate === null) return payload
  // The candidate object was validated member by member: no key written twice there either. (`data`
  // is free-form, so whatever it repeats is the application's own business.)
  return memberCount(payload) === keyCount(message.candidate) ? payload : undefined
}

/**
 * How many keys a parsed message (or its candidate) has: Object.keys(value).length, without the array
 * (an object of JSON.parse has only own, enumerable keys, and Object.prototype none).
 */
function keyCount (value: object): number {
  let count = 0
  for (const _key in value) count++
  return count
}

/**
 * The same frames serialized from the parsed message, `seq` first (as stampSeq puts it), all in the
 * head. Literal objects of one shape each, so JSON.stringify takes its fast path.
 */
class SerializedBody implements RelayBody {
  readonly payload = ''
  readonly tail = ''
  constructor (private readonly message: RelayedMessage, private readonly from: string) {}
  head (seq: number | undefined): string {
    const { message, from } = this
    switch (message.type) {
      case 'offer':
      case 'answer': {
        const { type, room, sdp } = message
        return seq === undefined ? JSON.stringify({ type, room, from, sdp }) : JSON.stringify({ seq, type, room, from, sdp })
      }
      case 'candidate': {
        const { room, candidate } = message
        return seq === undefined
          ? JSON.stringify({ type: 'candidate', room, from, candidate })
          : JSON.stringify({ seq, type: 'candidate', room, from, candidate })
      }
      case 'message': {
        const { room, data } = message
        return seq === undefined
          ? JSON.stringify({ type: 'message', room, from, data })
          : JSON.stringify({ seq, type: 'message', room, from, data })
      }
    }
  }
}

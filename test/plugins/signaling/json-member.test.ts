import t from 'tap'
import fc from 'fast-check'
import { memberCount, memberText } from '../../../plugins/signaling/json-member.js'

/** memberText as the relay uses it: the member count taken from what JSON.parse made of the text. */
function member (text: string, key: string): string | undefined {
  return memberText(text, key, Object.keys(JSON.parse(text) as object).length)
}

t.test('finds a member as written, whatever the spacing and the members around it', async (t) => {
  t.equal(member('{"type":"offer","sdp":"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"}', 'sdp'), '"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"')
  t.equal(member(' {\n "sdp" :\t"x" , "room":"r" }\n', 'sdp'), '"x"')
  t.equal(member('{"a":{"sdp":"inner"},"sdp":"outer"}', 'sdp'), '"outer"', 'a nested member of the same name is not it')
  t.equal(member('{"a":[1,{"b":"}]"},"{"],"candidate":{"candidate":"c","sdpMid":null}}', 'candidate'), '{"candidate":"c","sdpMid":null}')
  t.equal(member('{"n":-1.5e+3,"t":true,"f":false,"z":null,"data":[1 , 2]}', 'data'), '[1 , 2]')
  t.equal(member('{"data":12.5e-1}', 'data'), '12.5e-1')
  t.equal(member('{"data":null }', 'data'), 'null')
  t.equal(member('{"data":"é ✓ 😀"}', 'data'), '"é ✓ 😀"')
})

t.test('quotes and backslashes inside strings do not end them', async (t) => {
  // The value of "a" contains the text "sdp":"evil" with escaped quotes: not a member.
  t.equal(member('{"a":"\\"sdp\\":\\"evil\\"","sdp":"good"}', 'sdp'), '"good"')
  // Strings ending in an escaped backslash: the quote after it closes the string.
  t.equal(member('{"a":"x\\\\","sdp":"y\\\\"}', 'sdp'), '"y\\\\"')
  t.equal(member('{"a":"\\\\\\"","sdp":"\\"q\\""}', 'sdp'), '"\\"q\\""')
  t.equal(member('{"a":"{[","sdp":"]}"}', 'sdp'), '"]}"')
})

t.test('a member that cannot be told apart for certain is not given', async (t) => {
  t.equal(member('{"sdp":"first","sdp":"second"}', 'sdp'), undefined, 'written twice')
  t.equal(member('{"s\\u0064p":"escaped key"}', 'sdp'), undefined, 'key written with an escape')
  t.equal(member('{"sdp":"raw","s\\u0064p":"escaped, kept by JSON.parse"}', 'sdp'), undefined, 'the same key once raw, once escaped')
  t.equal(member('{"room":"a","sdp":"x","room":"b"}', 'sdp'), undefined, 'another key written twice')
  t.equal(member('{"room":"a"}', 'sdp'), undefined, 'absent')
  t.equal(member('{}', 'sdp'), undefined)
  t.equal(memberText('["sdp","x"]', 'sdp', 0), undefined, 'not an object')
  t.equal(memberText('"sdp"', 'sdp', 0), undefined)
})

t.test('memberCount counts members as written, duplicates included', async (t) => {
  t.equal(memberCount('{}'), 0)
  t.equal(memberCount(' { } '), 0)
  t.equal(memberCount('{"a":1,"b":{"c":2,"d":3},"e":[4,5]}'), 3)
  t.equal(memberCount('{"a":1,"a":2}'), 2)
  t.equal(memberCount('null'), -1)
  t.equal(memberCount('[]'), -1)
})

t.test('property: the text found parses to the value JSON.parse took, for any JSON object', async (t) => {
  const key = fc.constantFrom('sdp', 'candidate', 'data', 'a', 's"dp', 'sdp\\', '')
  const object = fc.dictionary(key, fc.jsonValue(), { maxKeys: 6 })
  fc.assert(fc.property(object, key, fc.boolean(), (value, wanted, spaced) => {
    const text = JSON.stringify(value, null, spaced ? 1 : undefined)
    const found = memberText(text, JSON.stringify(wanted).slice(1, -1), Object.keys(value).length)
    if (!(wanted in value)) return found === undefined
    // Keys that need escapes are looked up in their escaped form: found, and equal once parsed.
    return found !== undefined && JSON.stringify(JSON.parse(found)) === JSON.stringify(value[wanted])
  }), { numRuns: 2000 })
  t.end()
})

t.test('property: a text with a key written twice never yields a member', async (t) => {
  fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (first, between, second) => {
    const text = `{"sdp":${JSON.stringify(first)},"x":${JSON.stringify(between)},"sdp":${JSON.stringify(second)}}`
    return memberText(text, 'sdp', Object.keys(JSON.parse(text) as object).length) === undefined
  }), { numRuns: 1000 })
  t.end()
})

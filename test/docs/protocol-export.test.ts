import t from 'tap'
import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { Ajv } from 'ajv'
import asyncapiSpecs from '@asyncapi/specs'
import { ClientMessageSchemas, CloseCode, ServerMessageSchemas } from '../../plugins/signaling/messages.js'
import { parseClientMessage } from '../../plugins/signaling/parse.js'
import { ClientErrorCode } from '../../client/errors.js'
import { ASYNCAPI_PATH, ERROR_CODES, OUTPUTS, PROTOCOL_SCHEMA_PATH, buildAsyncApi, buildProtocolSchema, render } from '../../scripts/export-protocol.js'

type JsonObject = Record<string, unknown>

const DOC_PATH = new URL('../../docs/signaling.md', import.meta.url)
const doc = readFileSync(DOC_PATH, 'utf8')
const messageDefs = [...ClientMessageSchemas, ...ServerMessageSchemas].map((s) => String(s.$id))

/** Every fenced block opened with ```json <def> in docs/signaling.md, e.g. ```json server.welcome. */
function docExamples (): Array<{ def: string, text: string, line: number }> {
  const examples: Array<{ def: string, text: string, line: number }> = []
  for (const match of doc.matchAll(/^```json ([a-z]+\.[a-z-]+)\n([\s\S]*?)^```$/gm)) {
    const line = doc.slice(0, match.index).split('\n').length
    examples.push({ def: match[1]!, text: match[2]!, line })
  }
  return examples
}

function protocolAjv (): { ajv: Ajv2020, id: string } {
  const ajv = new Ajv2020({ strict: true, allErrors: true })
  const id = 'protocol'
  ajv.addSchema(JSON.parse(readFileSync(PROTOCOL_SCHEMA_PATH, 'utf8')) as JsonObject, id)
  return { ajv, id }
}

t.test('the committed docs/protocol.schema.json and docs/asyncapi.json are what npm run protocol generates', async (t) => {
  t.equal(OUTPUTS.length, 2)
  for (const { path, build } of OUTPUTS) {
    t.equal(readFileSync(path, 'utf8'), render(build()), `${path} is up to date (run npm run protocol)`)
  }
})

t.test('the JSON Schema has one definition per message and compiles in strict mode', async (t) => {
  const schema = buildProtocolSchema()
  const defs = schema.$defs as JsonObject
  for (const name of messageDefs) t.ok(defs[name], `$defs/${name}`)
  t.same(Object.keys(defs).filter((k) => /^(client|server)\./.test(k)), messageDefs, 'nothing else, in protocol order')
  const { ajv, id } = protocolAjv()
  t.ok(ajv.getSchema(id), 'compiles')
  t.notMatch(JSON.stringify(schema), /"\$id"/, 'no nested $id (they would change how $refs resolve)')
})

t.test('every message has an example in docs/signaling.md, and every example is valid', async (t) => {
  const examples = docExamples()
  const { ajv, id } = protocolAjv()
  const client = ajv.getSchema(`${id}#/$defs/ClientMessage`)!
  const server = ajv.getSchema(`${id}#/$defs/ServerMessage`)!
  for (const name of messageDefs) t.ok(examples.some((e) => e.def === name), `an example of ${name}`)
  for (const { def, text, line } of examples) {
    const where = `docs/signaling.md:${line} (${def})`
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      t.fail(`${where} is not JSON: ${(err as Error).message}`)
      continue
    }
    const validate = ajv.getSchema(`${id}#/$defs/${def}`)
    if (validate === undefined) {
      t.fail(`${where}: no such definition`)
      continue
    }
    t.ok(validate(value), `${where} matches its schema ${ajv.errorsText(validate.errors)}`)
    const union = def.startsWith('client.') ? client : server
    t.ok(union(value), `${where} matches the ${def.startsWith('client.') ? 'Client' : 'Server'}Message union`)
    if (def.startsWith('client.')) {
      // The server's own parser is the last word on what it accepts.
      const parsed = parseClientMessage(text)
      t.ok(parsed.ok, `${where} is accepted by the server${parsed.ok ? '' : `: ${parsed.error.code} ${parsed.error.message}`}`)
    }
  }
})

t.test('the schema refuses what the server refuses (it is not vacuous)', async (t) => {
  const { ajv, id } = protocolAjv()
  const check = (def: string, value: unknown): boolean => ajv.getSchema(`${id}#/$defs/${def}`)!(value) as boolean
  const refused: Array<[string, unknown]> = [
    ['client.join', { type: 'join', room: 'r', extra: true }],
    ['client.join', { type: 'join', room: 'no spaces' }],
    ['client.offer', { type: 'offer', room: 'r', sdp: 'v=0' }],
    ['client.candidate', { type: 'candidate', room: 'r', to: 'p', candidate: { candidate: 'x', address: '10.0.0.1' } }],
    ['client.ack', { type: 'ack', seq: -1 }],
    ['server.offer', { type: 'offer', room: 'r', from: 'p', sdp: 'v=0' }],
    ['server.peer-left', { type: 'peer-left', seq: 1, room: 'r', peerId: 'p', reason: 'kicked' }],
    ['ClientMessage', { type: 'welcome', seq: 0 }],
    ['ServerMessage', { type: 'join', room: 'r' }]
  ]
  for (const [def, value] of refused) {
    t.notOk(check(def, value), `${def} refuses ${JSON.stringify(value)}`)
    if (def.startsWith('client.')) t.notOk(parseClientMessage(JSON.stringify(value)).ok, 'and so does the server')
  }
})

t.test('docs/signaling.md names every error code, close code and client error code', async (t) => {
  for (const code of ERROR_CODES) t.match(doc, `\`${code}\``, code)
  for (const [name, code] of Object.entries(CloseCode)) t.match(doc, new RegExp(`^\\| ${code} \\|`, 'm'), `close code ${code} (${name}) has a row`)
  for (const code of Object.values(ClientErrorCode)) t.match(doc, `\`${code}\``, code)
})

/** Resolves a local JSON pointer ('#/a/b') in `root`. */
function resolvePointer (root: unknown, ref: string): unknown {
  let node = root
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (typeof node !== 'object' || node === null || !(key in node)) return undefined
    node = (node as JsonObject)[key]
  }
  return node
}

function collectRefs (node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) collectRefs(n, out)
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v)
      else collectRefs(v, out)
    }
  }
  return out
}

t.test('docs/asyncapi.json is a valid AsyncAPI 3.0 document whose references all resolve', async (t) => {
  const asyncapi = JSON.parse(readFileSync(ASYNCAPI_PATH, 'utf8')) as JsonObject
  t.same(asyncapi, buildAsyncApi())
  // The official AsyncAPI 3.0.0 JSON Schema (draft-07; the variant without $ids, whose embedded draft-07
  // meta-schema would clash with ajv's own). Formats are not checked, so ajv-formats is not needed.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false })
  const validate = ajv.compile(asyncapiSpecs.schemasWithoutId['3.0.0'])
  t.ok(validate(asyncapi), `valid AsyncAPI 3.0.0: ${ajv.errorsText(validate.errors)}`)
  const broken = structuredClone(asyncapi) as { operations: Record<string, { action: string }> }
  broken.operations.receiveJoin!.action = 'publish'
  t.notOk(validate(broken), 'and the validator does catch a mistake (AsyncAPI 2 wording)')

  const refs = collectRefs(asyncapi)
  t.ok(refs.length > 50)
  for (const ref of new Set(refs)) t.not(resolvePointer(asyncapi, ref), undefined, `${ref} resolves`)

  const operations = asyncapi.operations as Record<string, { action: string, messages: Array<{ $ref: string }> }>
  const sent = Object.values(operations).filter((o) => o.action === 'send').flatMap((o) => o.messages.map((m) => m.$ref))
  const received = Object.values(operations).filter((o) => o.action === 'receive').flatMap((o) => o.messages.map((m) => m.$ref))
  t.same(received.map((r) => r.split('/').pop()), ClientMessageSchemas.map((s) => s.$id), 'the server receives every client message')
  t.same(sent.map((r) => r.split('/').pop()), ServerMessageSchemas.map((s) => s.$id), 'and sends every server message')

  // The payload schemas in the AsyncAPI document accept the documented examples too.
  const payloads = new Ajv({ strict: false, validateFormats: false })
  payloads.addSchema(asyncapi, 'asyncapi')
  for (const { def, text, line } of docExamples()) {
    const check = payloads.getSchema(`asyncapi#/components/schemas/${def}`)
    t.ok(check?.(JSON.parse(text)), `docs/signaling.md:${line} (${def}) matches the AsyncAPI payload`)
  }
})

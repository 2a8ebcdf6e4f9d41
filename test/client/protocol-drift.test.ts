import t from 'tap'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import * as server from '../../plugins/signaling/messages.js'
import { SignalCode } from '../../plugins/signaling/errors.js'
import { JwksUnavailableError } from '../../plugins/auth/errors.js'
import { RateLimitedError } from '../../plugins/rate-limit/errors.js'
import { BEARER_SUBPROTOCOL_PREFIX as AUTH_BEARER_PREFIX, SIGNALING_SUBPROTOCOL } from '../../plugins/auth/extract.js'
import * as client from '../../client/index.js'

/**
 * The client package and the server share one protocol. Constants are defined once (client/protocol.ts,
 * imported by the server); types are written twice (the package cannot import TypeBox schemas), and
 * this test fails when they differ: it compiles protocol-drift-types.ts, whose assertions compare
 * each message type with the static type of the server's schema.
 */

t.test('client message types equal the static types of the server schemas', async (t) => {
  const file = fileURLToPath(new URL('./protocol-drift-types.ts', import.meta.url))
  const configPath = fileURLToPath(new URL('../../tsconfig.json', import.meta.url))
  const { config } = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path))
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, fileURLToPath(new URL('../..', import.meta.url)))
  const program = ts.createProgram([file], { ...options, noEmit: true })
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n') +
    (d.file !== undefined && d.start !== undefined ? ` (${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1})` : ''))
  t.same(diagnostics, [], 'no type differs (a failing line names the message type)')
})

t.test('run-time constants: the server uses the client\'s definitions', async (t) => {
  t.equal(server.SUBPROTOCOL, client.SUBPROTOCOL)
  t.equal(SIGNALING_SUBPROTOCOL, client.SUBPROTOCOL)
  t.equal(AUTH_BEARER_PREFIX, client.BEARER_SUBPROTOCOL_PREFIX)
  t.equal(server.CloseCode, client.ServerCloseCode, 'the same object: one definition')
  t.equal(server.REPLAYED_TYPES, client.REPLAYED_TYPES)
  t.equal(server.MAX_META_BYTES, client.MAX_META_BYTES)
  for (const [name, code] of Object.entries(client.ServerCloseCode)) t.equal(client.CloseCode[name as keyof typeof client.CloseCode], code, `CloseCode.${name}`)
  const schemaCandidateTypes = server.CandidateType.anyOf.map((s: { const: string }) => s.const)
  t.same(schemaCandidateTypes, [...client.CANDIDATE_TYPES], 'stats candidate types')
})

t.test('every message type of the schemas is known to the client\'s replay set or not, as on the server', async (t) => {
  const serverTypes = server.ServerMessageSchemas.map((s) => s.properties.type.const).sort()
  const replayed = [...client.REPLAYED_TYPES]
  t.ok(replayed.every((type) => serverTypes.includes(type)), 'replayed types are server message types')
})

t.test('the codes the client retries are codes the server sends', async (t) => {
  const serverCodes = new Set<string>([...Object.values(SignalCode), new JwksUnavailableError().code, new RateLimitedError('1 s').code])
  for (const code of client.RETRYABLE_CODES) t.ok(serverCodes.has(code), code)
  t.equal(new JwksUnavailableError().statusCode, 503, 'JWKS refusals are 503s')
  t.equal(new RateLimitedError('1 s').statusCode, 429)
})

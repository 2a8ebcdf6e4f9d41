/**
 * Mints a Switchboard token for development and prints it on stdout (nothing else goes to stdout,
 * so `TOKEN=$(npm run -s token -- --sub alice)` works).
 *
 *   npm run token -- --sub alice --room r1 --role host --ttl 600
 *
 * With JWT_SECRET in the environment the token is signed locally (HS256, plus JWT_ISSUER/JWT_AUDIENCE
 * when set). Otherwise a running development server signs it: POST $SWITCHBOARD_URL/v1/dev/token
 * (default http://127.0.0.1:8080).
 */
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Value } from '@sinclair/typebox/value'
import { list } from '../src/config.js'
import { mintToken } from '../plugins/auth/mint.js'
import { DevTokenBodySchema, type DevTokenBody } from '../plugins/auth/schemas.js'

const USAGE = `usage: npm run token -- [--sub <id>] [--name <display name>] [--role <role>]
                         [--room <room>[=<role>]]... [--ttl <seconds, 60..86400>]
  --room may repeat; a room ending in * grants a prefix (clinic-42/*); room=role sets the role in that room.
  Without --room the token grants every room (*).
  Signs with JWT_SECRET when set, else asks the dev server at SWITCHBOARD_URL (default http://127.0.0.1:8080).`

export class UsageError extends Error {}

function parseRoom (value: string): string | { room: string, role: string } {
  const eq = value.lastIndexOf('=')
  if (eq === -1) return value
  if (eq === 0) throw new UsageError(`--room "${value}" names no room before =`)
  return { room: value.slice(0, eq), role: value.slice(eq + 1) }
}

/** Parses and validates the arguments; 'help' when --help was asked for. Throws UsageError on bad input. */
export function parseRequest (argv: string[]): DevTokenBody | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        sub: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string' },
        room: { type: 'string', multiple: true },
        ttl: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values } = parsed
  if (values.help) return 'help'
  const body: Record<string, unknown> = {}
  if (values.sub !== undefined) body.sub = values.sub
  if (values.name !== undefined) body.name = values.name
  if (values.role !== undefined) body.role = values.role
  if (values.room !== undefined) body.rooms = values.room.map(parseRoom)
  if (values.ttl !== undefined) {
    if (!/^\d+$/.test(values.ttl)) throw new UsageError(`--ttl must be a whole number of seconds, got "${values.ttl}"`)
    body.ttl = Number(values.ttl)
  }
  // The same schema as POST /v1/dev/token, so both paths refuse the same input.
  const withDefaults = Value.Default(DevTokenBodySchema, body)
  const firstError = Value.Errors(DevTokenBodySchema, withDefaults).First()
  if (firstError) throw new UsageError(`${firstError.path.replace(/^\//, '--') || 'input'}: ${firstError.message}`)
  return withDefaults as DevTokenBody
}

async function signLocally (request: DevTokenBody, env: NodeJS.ProcessEnv, secret: string): Promise<string> {
  // Pick an HMAC algorithm the server accepts when JWT_ALGORITHMS narrows them.
  const hmac = list(env.JWT_ALGORITHMS).find((a): a is 'HS256' | 'HS384' | 'HS512' => ['HS256', 'HS384', 'HS512'].includes(a))
  const { token } = await mintToken(request, {
    secret: new TextEncoder().encode(secret),
    alg: hmac ?? 'HS256',
    issuer: env.JWT_ISSUER || undefined,
    audience: list(env.JWT_AUDIENCE)[0]
  })
  return token
}

async function askDevServer (request: DevTokenBody, baseUrl: string): Promise<string> {
  const url = new URL('/v1/dev/token', baseUrl)
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(5000)
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string, message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (err as Error).message
    throw new Error(`cannot reach ${url.origin} (${why}); start a development server (npm start without JWT_* keys) or set JWT_SECRET`)
  }
  const body = await res.json().catch(() => undefined) as Record<string, unknown> | undefined
  if (res.status === 404) {
    throw new Error(`${url.origin} has no /v1/dev/token: it runs with a configured JWT key, so mint with JWT_SECRET (or your IdP) instead`)
  }
  if (!res.ok || typeof body?.token !== 'string') {
    throw new Error(`${url.origin} refused: ${res.status} ${typeof body?.code === 'string' ? body.code : ''} ${typeof body?.detail === 'string' ? body.detail : ''}`.trim())
  }
  return body.token
}

async function main (): Promise<void> {
  const request = parseRequest(process.argv.slice(2))
  if (request === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const secret = process.env.JWT_SECRET
  const token = secret
    ? await signLocally(request, process.env, secret)
    : await askDevServer(request, process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080')
  process.stdout.write(`${token}\n`)
}

// Run only as a script; tests import parseRequest without minting anything.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`mint-token: ${err.message}\n${USAGE}\n`)
      process.exit(2)
    }
    process.stderr.write(`mint-token: ${(err as Error).message}\n`)
    process.exit(1)
  })
}

import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction { op: string, args: string, line: number }
export interface Stage { from: string, name?: string, instructions: Instruction[] }

/** A plain line parser: comments and blank lines dropped, `\` continuations joined, split at FROM. */
export function parseDockerfile (text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i
    let line = lines[i] ?? ''
    if (/^\s*(#|$)/.test(line)) continue
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      const next = lines[++i] ?? ''
      // Docker drops comment lines inside a continuation; the continuation goes on.
      if (!/^\s*#/.test(next)) line = line.replace(/\\\s*$/, ' ') + next
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(line)
    if (!m) throw new Error(`Dockerfile:${start + 1}: cannot parse "${line}"`)
    const op = (m[1] ?? '').toUpperCase()
    const args = (m[2] ?? '').replace(/\s+/g, ' ').trim()
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args)
      stages.push({ from: from?.[1] ?? '', ...(from?.[2] ? { name: from[2] } : {}), instructions: [] })
    } else if (op !== 'ARG' || stages.length > 0) {
      const stage = stages.at(-1)
      if (!stage) throw new Error(`Dockerfile:${start + 1}: ${op} before the first FROM`)
      stage.instructions.push({ op, args, line: start + 1 })
    }
  }
  return stages
}

/** Global ARG defaults (before the first FROM), to resolve `FROM ${NODE_IMAGE}`. */
export function globalArgs (text: string): Record<string, string> {
  const args: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (/^\s*FROM\b/i.test(line)) break
    const m = /^\s*ARG\s+(\w+)=(\S+)/i.exec(line)
    if (m) args[m[1] ?? ''] = m[2] ?? ''
  }
  return args
}

/** Where `npm run build` writes (outDir) and where src/server.ts ends up, relative to the repo (tsconfig.build.json, following extends). */
export function buildLayout (repo: string): { outDir: string, server: string } {
  const configPath = join(repo, 'tsconfig.build.json')
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p))
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(configPath))
  const outDir = parsed.options.outDir ?? repo
  const rootDir = parsed.options.rootDir ?? repo
  const js = join(outDir, relative(rootDir, resolve(repo, 'src/server.ts'))).replace(/\.ts$/, '.js')
  return { outDir: relative(repo, outDir), server: relative(repo, js) }
}

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigSchema } from '../../src/config.js'
import { SECRET_KEYS } from '../../deploy/chart-values.js'

/**
 * A static linter for the Helm chart, standing in for `helm template` (no helm binary here).
 * It reads Go templates well enough to find the `.Values` paths and environment variable names
 * they use; it does not render them.
 */

/** Env vars the templates may set that are not service config, each with why. */
export const NON_CONFIG_ENV: Readonly<Record<string, string>> = {
  POD_IP: 'coturn: the private half of --external-ip=<public>/<private>',
  COTURN_TLS_RELOAD_SECONDS: 'coturn: how often its start script sends SIGUSR2 to re-read the TLS certificate'
}

/** Root objects a template may reach from `.` besides .Values. */
const BUILTIN_ROOTS = new Set(['Release', 'Chart', 'Template', 'Files', 'Capabilities'])

export interface Problem { file: string, line: number, message: string }

export interface Chart {
  dir: string
  values: Record<string, unknown>
  /** templates/**, relative path -> text (NOTES.txt and _helpers.tpl included). */
  templates: Map<string, string>
}

export function loadChart (dir: string): Chart {
  const values = parseYaml(readFileSync(join(dir, 'values.yaml'), 'utf8')) as Record<string, unknown>
  const templates = new Map<string, string>()
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else templates.set(relative(dir, p), readFileSync(p, 'utf8'))
    }
  }
  walk(join(dir, 'templates'))
  return { dir, values, templates }
}

/** Looks a path up in values.yaml; `[]` steps into a list's first item (a sample of its shape). */
export function valuesHas (values: unknown, path: string[]): boolean {
  let node: unknown = values
  for (const seg of path) {
    if (seg === '[]') {
      if (!Array.isArray(node) || node.length === 0) return false
      node = node[0]
      continue
    }
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !(seg in node)) return false
    node = (node as Record<string, unknown>)[seg]
  }
  return true
}

/** What `.` is inside a block: the chart root, a values path, or something we cannot follow. */
type Dot = { kind: 'root' } | { kind: 'values', path: string[] } | { kind: 'unknown' }

interface Frame { keyword: string, dot: Dot, outer: Dot }

const ACTION = /\{\{-?\s*([\s\S]*?)\s*-?\}\}/g
const FIELD_CHAIN = /(?<![\w)\]$.])((?:\$\w*)?)((?:\.[A-Za-z_]\w*)+)/g

function lineOf (text: string, index: number): number {
  return text.slice(0, index).split('\n').length
}

/** A pipeline's leading operand as a values path, when it is one (`.Values.a.b`, `$c.d`, `.x` under a values dot). */
function resolveOperand (expr: string, dot: Dot, aliases: Map<string, string[]>): Dot {
  const m = /^\(?\s*((?:\$\w*)?)((?:\.[A-Za-z_]\w*)*)/.exec(expr.trim())
  if (!m) return { kind: 'unknown' }
  const [, variable = '', chain = ''] = m
  // A function call such as `urlParse .` is not a path: its result has a shape of its own.
  if (variable === '' && chain === '' && expr.trim() !== '.') return { kind: 'unknown' }
  const fields = chain.split('.').filter(Boolean)
  if (variable === '$' || (variable === '' && dot.kind === 'root')) {
    if (fields[0] === 'Values') return { kind: 'values', path: fields.slice(1) }
    return fields.length === 0 && variable === '' ? dot : { kind: 'unknown' }
  }
  if (variable !== '') {
    const base = aliases.get(variable)
    return base ? { kind: 'values', path: [...base, ...fields] } : { kind: 'unknown' }
  }
  if (dot.kind === 'values') return { kind: 'values', path: [...dot.path, ...fields] }
  return { kind: 'unknown' }
}

/**
 * Every `.Values` path a template uses that values.yaml lacks, and every block that does not balance.
 * Follows `with`/`range` scopes over values (a `range` item is the list's first entry) and
 * `$x := .Values.y` aliases; `index <values> "KEY"` is checked as a path too.
 */
export function checkValuePaths (file: string, text: string, values: unknown): Problem[] {
  const problems: Problem[] = []
  const stack: Frame[] = []
  const aliases = new Map<string, string[]>()
  let dot: Dot = { kind: 'root' }
  const report = (index: number, message: string): void => { problems.push({ file, line: lineOf(text, index), message }) }
  const check = (index: number, path: string[]): void => {
    if (!valuesHas(values, path)) report(index, `.Values.${path.join('.')} is not in values.yaml`)
  }

  for (const match of text.matchAll(ACTION)) {
    const raw = match[1] ?? ''
    const at = match.index ?? 0
    if (raw.startsWith('/*')) continue
    // `index X "KEY"` lookups, before string literals are blanked out.
    for (const ix of raw.matchAll(/\bindex\s+(\$?\w*(?:\.[A-Za-z_]\w*)*)\s+"([^"]+)"/g)) {
      const base = resolveOperand(ix[1] ?? '', dot, aliases)
      if (base.kind === 'values') check(at, [...base.path, ix[2] ?? ''])
    }
    const action = raw.replace(/"(?:[^"\\]|\\.)*"|`[^`]*`/g, '""')
    const keyword = /^(\w+)/.exec(action)?.[1] ?? ''

    // Alias: `$x := <operand>` remembers values paths for later `$x.y` references.
    const assign = /^(\$\w+)\s*:?=\s*(.+)$/.exec(action)
    if (assign && !/^\s*(range|with)\b/.test(action)) {
      const target = resolveOperand(assign[2] ?? '', dot, aliases)
      if (target.kind === 'values') aliases.set(assign[1] ?? '', target.path)
    }

    // References in this action.
    for (const ref of action.matchAll(FIELD_CHAIN)) {
      const variable = ref[1] ?? ''
      const fields = (ref[2] ?? '').split('.').filter(Boolean)
      if (variable === '$' || (variable === '' && dot.kind === 'root')) {
        if (fields[0] === 'Values') check(at, fields.slice(1))
        else if (variable === '' && !BUILTIN_ROOTS.has(fields[0] ?? '')) report(at, `.${fields.join('.')} is not a chart root object`)
      } else if (variable !== '') {
        const base = aliases.get(variable)
        if (base) check(at, [...base, ...fields])
      } else if (dot.kind === 'values') {
        check(at, [...dot.path, ...fields])
      }
    }

    // Block structure and the meaning of `.` inside it.
    if (keyword === 'end') {
      const frame = stack.pop()
      if (!frame) { report(at, 'unbalanced {{ end }}'); continue }
      dot = frame.outer
    } else if (keyword === 'else') {
      const frame = stack.at(-1)
      if (!frame) { report(at, '{{ else }} outside a block'); continue }
      const rest = action.replace(/^else\s*/, '')
      dot = /^with\b/.test(rest) ? resolveOperand(rest.replace(/^with\s+/, ''), frame.outer, aliases) : frame.outer
    } else if (keyword === 'with' || keyword === 'range') {
      let operand = action.replace(/^(with|range)\s+/, '')
      const decl = /^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.+)$/.exec(operand)
      if (decl) operand = decl[3] ?? ''
      let inner = resolveOperand(operand, dot, aliases)
      if (inner.kind === 'values' && keyword === 'range') inner = { kind: 'values', path: [...inner.path, '[]'] }
      // `range $k, $v := map` makes `.` a map value of unknown shape; a list item is sampled.
      if (keyword === 'range' && decl?.[2] !== undefined) inner = { kind: 'unknown' }
      if (decl && inner.kind === 'values') aliases.set(decl[2] ?? decl[1] ?? '', inner.path)
      stack.push({ keyword, dot: inner, outer: dot })
      dot = inner
    } else if (keyword === 'if' || keyword === 'block') {
      stack.push({ keyword, dot, outer: dot })
    } else if (keyword === 'define') {
      // Our helpers are always included with the chart root (`include "x" .`) or a plain value.
      stack.push({ keyword, dot: { kind: 'root' }, outer: dot })
      dot = { kind: 'root' }
    }
  }
  for (const frame of stack) problems.push({ file, line: 0, message: `{{ ${frame.keyword} }} is never closed` })
  return problems
}

/** Environment variable names a template sets or references (env entries, data keys, secretKeyRef keys, $(VAR)). */
export function envNames (text: string): Array<{ name: string, line: number }> {
  const found: Array<{ name: string, line: number }> = []
  const patterns = [
    /^\s*- name: ([A-Z][A-Z0-9_]*)\s*$/gm, // env: entries
    /^\s*([A-Z][A-Z0-9_]*):/gm, // ConfigMap/Secret data keys
    /^\s*key: ([A-Z][A-Z0-9_]*)\s*$/gm, // secretKeyRef / configMapKeyRef keys
    /\$\(([A-Z][A-Z0-9_]*)\)/g // dependent variables in env values and args
  ]
  for (const re of patterns) {
    for (const m of text.matchAll(re)) found.push({ name: m[1] ?? '', line: lineOf(text, m.index ?? 0) })
  }
  return found
}

/** Names the service reads, plus the ones the chart legitimately sets besides them. */
export function knownEnv (): Set<string> {
  return new Set([...Object.keys(ConfigSchema.properties), ...Object.keys(NON_CONFIG_ENV)])
}

/** All static problems of a chart directory: unknown values, unbalanced blocks, unknown env names, secrets in the ConfigMap. */
export function lintChart (dir: string): Problem[] {
  const chart = loadChart(dir)
  const known = knownEnv()
  const problems: Problem[] = []
  for (const [file, text] of chart.templates) {
    problems.push(...checkValuePaths(file, text, chart.values))
    if (file.endsWith('NOTES.txt')) continue
    for (const { name, line } of envNames(text)) {
      if (!known.has(name)) problems.push({ file, line, message: `${name} is not a ConfigSchema key (nor a documented non-config variable)` })
    }
  }
  const configMap = chart.templates.get(join('templates', 'configmap.yaml')) ?? ''
  for (const { name, line } of envNames(configMap)) {
    if (SECRET_KEYS.includes(name)) problems.push({ file: 'templates/configmap.yaml', line, message: `secret ${name} is written into the ConfigMap` })
  }
  if (/\.Values\.(secrets|existingSecret)\b/.test(configMap)) {
    problems.push({ file: 'templates/configmap.yaml', line: 0, message: 'the ConfigMap reads secret values' })
  }
  return problems
}

export function formatProblems (problems: Problem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n')
}

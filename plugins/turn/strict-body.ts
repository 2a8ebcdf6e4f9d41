import type { FastifySchemaCompiler } from 'fastify'
import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

/** The part of an Ajv error that Fastify's schemaErrorFormatter reads ("body/ttl expected integer"). */
interface ValidationIssue { instancePath: string, message: string, keyword: string, params: Record<string, unknown>, schemaPath: string }

/**
 * A validator compiler for JSON request bodies that must arrive with their declared types.
 *
 * Why: the app's Ajv runs with `coerceTypes: 'array'` (right for query strings and headers, which are
 * always text), so `{"ttl":"600"}` became 600 and passed, although docs/turn.md promises a 400 for a
 * non-integer ttl. A JSON body already carries types, so here nothing is converted. TypeBox's compiled
 * check is used (a direct dependency, and the schemas are TypeBox's). Failures come back in Ajv's shape,
 * first one only as Ajv reports by default, so Fastify turns them into the usual 400 SWB_VALIDATION problem.
 */
// Typed for any route schema (Fastify hands each part's schema in); this route's body schemas are TypeBox.
export const strictBodyCompiler: FastifySchemaCompiler<any> = ({ schema, httpPart }) => {
  // Only bodies are JSON-typed; a querystring or params schema here would need coercion after all.
  if (httpPart !== 'body') throw new Error(`strictBodyCompiler is for bodies, not ${httpPart ?? 'unknown'}`)
  const check = TypeCompiler.Compile(schema as TSchema)
  const validate = (value: unknown): boolean => {
    if (check.Check(value)) return true
    const first = check.Errors(value).First()
    const issue: ValidationIssue = {
      instancePath: first?.path ?? '',
      message: first === undefined ? 'is invalid' : first.message.charAt(0).toLowerCase() + first.message.slice(1),
      keyword: 'type',
      params: {},
      schemaPath: first?.schema.$id ?? ''
    }
    validate.errors = [issue]
    return false
  }
  validate.errors = [] as ValidationIssue[]
  return validate
}

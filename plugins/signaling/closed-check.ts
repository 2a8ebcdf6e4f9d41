import { TypeGuard, type Static, type TObject, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { ValueErrorIterator } from '@sinclair/typebox/errors'

/**
 * A compiled message check that gives TypeBox's verdicts without allocating for `additionalProperties:
 * false`. TypeBox compiles that keyword to `Object.getOwnPropertyNames(value).every((key) => [...].
 * includes(key))`: for every message, an array of its keys, a closure and, for every key, an array
 * of the allowed ones (3.7% of what the relay allocated at N = 10,000; docs/bench.md). Allocation is
 * what sets how often the collector runs.
 *
 * Here TypeBox checks the schema with that keyword taken off the message object and off the object
 * properties that are closed the same way (directly, or as the object of an object-or-null union such
 * as `candidate`), and a `for…in` over the value's keys, which allocates nothing, checks that no other
 * key is present. For a value of JSON.parse the two are the same test: its keys are own, enumerable
 * strings (`__proto__` included), and Object.prototype has no enumerable key. Anything else (a record
 * of free-form keys, a closed object deeper down, a union of two objects) keeps TypeBox's own check.
 *
 * Errors, which only refused messages need, come from the schema as it is: the same messages as before.
 */
export interface MessageCheck<T extends TObject> {
  Check (value: unknown): value is Static<T>
  Errors (value: unknown): ValueErrorIterator
}

/** A property whose object value may only have `keys` (checked when the value is an object). */
interface ClosedProperty { name: string, keys: ReadonlySet<string> }

export function compileMessageCheck<T extends TObject> (schema: T): MessageCheck<T> {
  const full = TypeCompiler.Compile(schema)
  if (schema.additionalProperties !== false) return full
  const closed: ClosedProperty[] = []
  const properties: Record<string, TSchema> = {}
  for (const [name, property] of Object.entries(schema.properties)) {
    const opened = openedProperty(property)
    if (opened === undefined) {
      properties[name] = property
    } else {
      properties[name] = opened.schema
      closed.push({ name, keys: opened.keys })
    }
  }
  const keys: ReadonlySet<string> = new Set(Object.keys(schema.properties))
  const open: TypeCheck<TSchema> = TypeCompiler.Compile({ ...schema, properties, additionalProperties: undefined })
  return {
    Check (value: unknown): value is Static<T> {
      if (!open.Check(value) || !onlyKeys(value as object, keys)) return false
      for (let i = 0; i < closed.length; i++) {
        const { name, keys } = closed[i] as ClosedProperty
        const inner = (value as Record<string, unknown>)[name]
        if (typeof inner === 'object' && inner !== null && !onlyKeys(inner, keys)) return false
      }
      return true
    },
    Errors: (value: unknown) => full.Errors(value)
  }
}

/** Whether every enumerable key of `value` is one of `keys`. No allocation for an object of JSON.parse. */
function onlyKeys (value: object, keys: ReadonlySet<string>): boolean {
  for (const key in value) if (!keys.has(key)) return false
  return true
}

/**
 * The property's schema with the closed object opened, and that object's keys: for a closed object of
 * plain properties, or a union of one such object and null. Undefined for anything else (left as is).
 */
function openedProperty (property: TSchema): { schema: TSchema, keys: ReadonlySet<string> } | undefined {
  if (isPlainClosedObject(property)) {
    return { schema: { ...property, additionalProperties: undefined }, keys: new Set(Object.keys(property.properties)) }
  }
  if (!TypeGuard.IsUnion(property)) return undefined
  const objects = property.anyOf.filter((member) => !TypeGuard.IsNull(member))
  const object = objects[0]
  if (objects.length !== 1 || object === undefined || !isPlainClosedObject(object)) return undefined
  const anyOf = property.anyOf.map((member) => member === object ? { ...object, additionalProperties: undefined } : member)
  return { schema: { ...property, anyOf }, keys: new Set(Object.keys(object.properties)) }
}

/** A closed object whose properties are all scalars (nothing below it is closed in turn). */
function isPlainClosedObject (schema: TSchema): schema is TObject {
  return TypeGuard.IsObject(schema) && schema.additionalProperties === false &&
    Object.values(schema.properties).every((p) => !TypeGuard.IsObject(p) && !TypeGuard.IsRecord(p) &&
      !(TypeGuard.IsUnion(p) && p.anyOf.some((m) => TypeGuard.IsObject(m) || TypeGuard.IsRecord(m) || TypeGuard.IsUnion(m))))
}

import { Type, type Static } from '@sinclair/typebox'

export const LiveSchema = Type.Object({ status: Type.Literal('ok') })

export const ReadySchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not-ready')]),
  draining: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Object({
    ok: Type.Boolean(),
    detail: Type.Optional(Type.String())
  }))
})
export type Ready = Static<typeof ReadySchema>

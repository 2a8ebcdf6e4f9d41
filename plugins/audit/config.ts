import { Type, type Static } from '@sinclair/typebox'

/** The audit plugin's part of ConfigSchema. src/config.ts composes it. */
export const AuditConfigSchema = Type.Object({
  AUDIT_LOG_LEVEL: Type.Union(['info', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'silent turns the audit stream off' }),
  AUDIT_LOG_FILE: Type.Optional(Type.String({ minLength: 1, description: 'Append audit events to this file instead of stdout' }))
})
export type AuditConfig = Static<typeof AuditConfigSchema>

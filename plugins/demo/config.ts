import { Type, type Static } from '@sinclair/typebox'

/** The demo plugin's part of ConfigSchema. src/config.ts composes it. */
export const DemoConfigSchema = Type.Object({
  DEMO_ENABLED: Type.Optional(Type.Boolean({ description: 'Serve the demo call page at /demo/; unset = on unless NODE_ENV=production' }))
})
export type DemoConfig = Static<typeof DemoConfigSchema>

/** DEMO_ENABLED wins when set; unset means on everywhere except NODE_ENV=production. */
export function demoEnabled (config: DemoConfig & { NODE_ENV: string }): boolean {
  return config.DEMO_ENABLED ?? config.NODE_ENV !== 'production'
}

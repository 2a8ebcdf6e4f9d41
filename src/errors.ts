/** Every error code the service emits starts with this prefix (catalogues: docs/signaling.md, docs/auth.md, docs/turn.md). */
export const ERROR_PREFIX = 'SWB'

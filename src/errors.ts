/** Every error code the service emits starts with this prefix (the catalogue is docs/errors.md). */
export const ERROR_PREFIX = 'SWB'

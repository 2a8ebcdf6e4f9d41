import type { FastifyPluginAsync } from 'fastify'
// Placeholder replaced by the TURN implementation.
const turn: FastifyPluginAsync = async () => {}
export default turn

import fp from 'fastify-plugin'
// Placeholder replaced by the auth implementation.
export default fp(async () => {}, { fastify: '5.x', name: 'switchboard-auth' })

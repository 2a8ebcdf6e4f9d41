import t from 'tap'
import { runSignalingSuiteOnRedis } from '../helpers/signaling-on-redis.js'

// The signaling scenario suite against the Redis registry, part 4 of 4 (the memory run is test/plugins/signaling itself).
runSignalingSuiteOnRedis(t, 3, 4)

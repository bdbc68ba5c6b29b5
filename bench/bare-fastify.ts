/**
 * The ceiling for the web benchmark: a bare Fastify 5 route with no plugins, in its own process,
 * answering a fixed body. Prints its port.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const body = 'ok';
app.get('/', async () => body);
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const address = app.server.address();
console.log(`listening on ${typeof address === 'object' && address ? address.port : '?'}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));

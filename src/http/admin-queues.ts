import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { QueueName } from '../queue/jobs.ts';
import type { Queues } from '../queue/queues.ts';

/**
 * Queues whose jobs only carry work the ledger already holds (send batches, planning, the digest
 * trigger): shown read-only, because deleting or emptying them is never the fix; pausing and
 * resuming an edition is (its page in the console). Mail and paper jobs may be retried or cleaned.
 */
const READ_ONLY: readonly QueueName[] = ['send', 'digest'];

/**
 * Bull Board under /admin/queues, inside the console's scope: the same session check, and its own
 * API calls (fetch with JSON, no form token) must still be same-origin (src/http/admin-session.ts).
 */
export async function registerQueueBoard(app: FastifyInstance, queues: Queues): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath('/admin/queues');
  createBullBoard({
    queues: (Object.entries(queues.byName) as [QueueName, Queues['byName'][QueueName]][]).map(
      ([name, queue]) => new BullMQAdapter(queue, { readOnlyMode: READ_ONLY.includes(name), description: READ_ONLY.includes(name) ? 'read-only: pause and resume editions on their console page' : '' }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Paperboy queues' } },
  });
  await app.register(
    async (board) => {
      board.addHook('onRoute', (route) => {
        route.config = { ...(route.config as object), sameOriginOnly: true };
      });
      // Bull Board's page sets inline styles (its loading screen, React style attributes);
      // scripts stay 'self' only.
      board.addHook('onSend', async (_req, reply) => {
        const csp = reply.getHeader('content-security-policy');
        if (typeof csp === 'string') reply.header('content-security-policy', csp.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"));
      });
      await board.register(serverAdapter.registerPlugin() as never);
    },
    { prefix: '/queues' },
  );
}

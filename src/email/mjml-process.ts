/**
 * The MJML renderer child process (forked by mjml-renderer.ts with an IPC channel): answers
 * `{ id, source }` with `{ id, html }` or `{ id, error }`, rendering with the same function as an
 * in-process render (mjml-render.ts). It lives only while its parent wants it: it exits when the
 * channel closes, whether the parent let it go after an idle period, is shutting down, or died.
 */
import { renderMjml } from './mjml-render.ts';
import type { RenderReply, RenderRequest } from './mjml-renderer.ts';

if (!process.send) {
  console.error('src/email/mjml-process.ts is started by mjml-renderer.ts (fork with IPC)');
  process.exit(2);
}
const send = process.send.bind(process);

process.on('message', (message: RenderRequest) => {
  renderMjml(message.source).then(
    (html) => send({ id: message.id, html } satisfies RenderReply),
    (error: unknown) => {
      const { message: text, errors } = error as { message?: unknown; errors?: unknown };
      // MJML's ValidationError carries the list of problems; it is plain data, so it crosses as is.
      send({ id: message.id, error: { message: typeof text === 'string' ? text : String(error), errors } } satisfies RenderReply);
    },
  );
});
// Ctrl-C on a terminal reaches the whole process group: the worker drains its jobs (which may
// still render) and then closes this process; a SIGINT here would fail those renders.
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
// The parent may have gone already, before the listener existed.
if (!process.connected) process.exit(0);

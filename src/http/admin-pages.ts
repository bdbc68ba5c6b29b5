import type { FastifyReply } from 'fastify';
import type { ConsoleSession } from './admin-session.ts';
import { renderPage } from './pages.ts';

/** Messages a console action redirects with (`?done=key`), so no text from the URL reaches a page. */
export const consoleNotices = {
  paused: 'The edition is paused. Workers give back what they hold within a second.',
  resumed: 'The edition is sending again.',
  unsubscribed: 'The subscriber is unsubscribed.',
  suppressed: 'The address is suppressed: it receives nothing until it opts in again.',
  revoked: 'Every unsubscribe and preferences link of this subscriber is revoked.',
  erased: 'The subscriber is erased; only a hash of the address stays on the suppression list.',
  repoll: 'The poll is queued; its result shows here once the worker has run it.',
} as const;
export type ConsoleNotice = keyof typeof consoleNotices;

export function noticeOf(done: unknown): string | null {
  return typeof done === 'string' && Object.hasOwn(consoleNotices, done) ? consoleNotices[done as ConsoleNotice] : null;
}

/** A console page (templates/pages/admin-*.hbs) in the public layout; the nav carries the sign-out form. */
export async function sendConsolePage(
  reply: FastifyReply,
  template: string,
  title: string,
  session: ConsoleSession,
  data: object,
  options: { notice?: string | null; status?: number } = {},
): Promise<FastifyReply> {
  const html = await renderPage(template, `${title} · Admin`, { ...data, csrf: session.csrf, notice: options.notice ?? null });
  return reply.code(options.status ?? 200).type('text/html').send(html);
}

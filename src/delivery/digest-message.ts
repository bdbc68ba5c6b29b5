import type { SendMailOptions } from 'nodemailer';
import { fillTemplate, splitTemplate, type SplicedTemplate } from '../email/templates.ts';

export interface PreparedEdition {
  editionId: number;
  subject: string;
  html: SplicedTemplate;
  text: SplicedTemplate;
}

export interface MessageContext {
  publicUrl: string;
  mailFrom: { name: string; address: string };
  listId: string;
}

export function prepareEdition(edition: { id: number; subject: string; html_template: string; text_template: string }): PreparedEdition {
  return {
    editionId: edition.id,
    subject: edition.subject,
    html: splitTemplate(edition.html_template),
    text: splitTemplate(edition.text_template),
  };
}

export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/u/${token}`;
}

/** The person's page to download or erase their data (a token of its own purpose). */
export function preferencesUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/p/${token}`;
}

/** Deterministic per (edition, subscriber): a retry reuses it, and no two recipients share one. */
export function digestMessageId(editionId: number, subscriberId: number, mailFrom: { address: string }): string {
  const domain = mailFrom.address.slice(mailFrom.address.lastIndexOf('@') + 1);
  return `<digest.e${editionId}.s${subscriberId}@${domain}>`;
}

/**
 * Builds one digest message. The recipient is passed as an object, never as a string nodemailer
 * would parse, and List-Unsubscribe-Post goes through `headers` because nodemailer's `list`
 * option mangles it (stack.md §7).
 */
export function buildDigestMessage(
  edition: PreparedEdition,
  recipient: { subscriberId: number; email: string; unsubscribeToken: string; preferencesToken: string },
  context: MessageContext,
  bounce: { returnPath: string; mailtoUnsubscribe: string } | undefined = undefined,
): SendMailOptions {
  const unsubscribe = unsubscribeUrl(context.publicUrl, recipient.unsubscribeToken);
  const values = { UNSUBSCRIBE_URL: unsubscribe, PREFERENCES_URL: preferencesUrl(context.publicUrl, recipient.preferencesToken) };
  return {
    from: context.mailFrom,
    to: { name: '', address: recipient.email },
    subject: edition.subject,
    messageId: digestMessageId(edition.editionId, recipient.subscriberId, context.mailFrom),
    html: fillTemplate(edition.html, values),
    text: fillTemplate(edition.text, values),
    ...(bounce ? { envelope: { from: bounce.returnPath, to: [recipient.email] } } : {}),
    list: {
      // A nested array makes one List-Unsubscribe header (a flat one would make several).
      unsubscribe: [bounce ? [unsubscribe, bounce.mailtoUnsubscribe] : [unsubscribe]],
      id: { url: context.listId, comment: 'Paperboy daily digest' },
    },
    headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  };
}

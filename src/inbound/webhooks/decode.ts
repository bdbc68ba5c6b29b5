import { sql } from 'kysely';
import { z } from 'zod';
import type { Executor } from '../../db/database.ts';
import { classifySmtpError, parseEnhancedStatusCode } from '../../delivery/smtp-errors.ts';
import type { InboundReport } from '../inbound-report.table.ts';
import type { Decoded, InboundEvent } from '../process-report.ts';

/**
 * Relay webhook payloads (stored as JSON in inbound_reports.raw) to the same events as mail.
 * These callers are authenticated (verify.ts), so a Message-ID (`<digest.e{edition}.s{subscriber}@…>`,
 * src/delivery/digest-message.ts) or the recipient address may link the delivery.
 */
export async function decodeWebhook(report: InboundReport, db: Executor): Promise<Decoded> {
  const body: unknown = JSON.parse(report.raw?.toString('utf8') ?? 'null');
  const decoded = report.source === 'mailgun' ? decodeMailgun(body) : report.source === 'postmark' ? decodePostmark(body) : report.source === 'ses' ? decodeSes(body) : undefined;
  if (!decoded) return { event: { kind: 'ignored', why: `unreadable ${report.source} payload` }, deliveryId: null };
  if (decoded.event.kind === 'ignored') return { event: decoded.event, deliveryId: null };
  return { event: decoded.event, deliveryId: await findDelivery(db, decoded.messageId, decoded.recipient) };
}

interface Reading {
  event: InboundEvent;
  messageId: string | undefined;
  recipient: string | undefined;
}

export const mailgunPayload = z.object({
  signature: z.object({ timestamp: z.string().max(20), token: z.string().min(1).max(200), signature: z.string().max(200) }),
  'event-data': z.object({ event: z.string().max(100) }).passthrough(),
});

const mailgunEvent = z.object({
  event: z.string(),
  severity: z.string().optional(),
  recipient: z.string().optional(),
  message: z.object({ headers: z.object({ 'message-id': z.string().optional() }).passthrough().optional() }).passthrough().optional(),
  'delivery-status': z.object({ code: z.coerce.number().optional(), message: z.string().optional(), description: z.string().optional() }).passthrough().optional(),
});

/** Mailgun event-data (documentation "Webhooks", event types failed / complained / unsubscribed). */
function decodeMailgun(body: unknown): Reading | undefined {
  const parsed = z.object({ 'event-data': mailgunEvent }).safeParse(body);
  if (!parsed.success) return undefined;
  const e = parsed.data['event-data'];
  const messageId = e.message?.headers?.['message-id'];
  const base = { messageId, recipient: e.recipient };
  switch (e.event) {
    case 'failed': {
      if (e.severity !== 'permanent') return { ...base, event: { kind: 'ignored', why: 'temporary failure: the relay retries' } };
      const status = e['delivery-status'];
      const code = status?.code && status.code >= 400 ? status.code : 550;
      const text = `${status?.message ?? ''} ${status?.description ?? ''}`.trim();
      const enhanced = parseEnhancedStatusCode(text) ?? parseEnhancedStatusCode(`${code} ${text}`);
      return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: code, response: `${code} ${enhanced && !text.includes(enhanced) ? `${enhanced} ` : ''}${text}`.trim() }) } };
    }
    case 'complained':
      return { ...base, event: { kind: 'complaint', feedbackType: 'abuse' } };
    case 'unsubscribed':
      return { ...base, event: { kind: 'unsubscribe' } };
    default:
      return { ...base, event: { kind: 'ignored', why: `mailgun event ${e.event} changes nothing here` } };
  }
}

const postmarkEvent = z.object({
  RecordType: z.string(),
  Type: z.string().optional(),
  Email: z.string().optional(),
  Recipient: z.string().optional(),
  Details: z.string().optional(),
  Description: z.string().optional(),
  SuppressSending: z.boolean().optional(),
});

/** Postmark webhooks (documentation "Bounce webhook", "Spam complaint webhook", "Subscription change"). */
function decodePostmark(body: unknown): Reading | undefined {
  const parsed = postmarkEvent.safeParse(body);
  if (!parsed.success) return undefined;
  const e = parsed.data;
  const base = { messageId: undefined, recipient: e.Email ?? e.Recipient };
  switch (e.RecordType) {
    case 'Bounce': {
      // Details carries the receiver's reply when there was one ("smtp;550 5.1.1 …").
      const details = (e.Details ?? '').replace(/^smtp;\s*/i, '');
      if (/^\d{3}\b/.test(details)) return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: Number(details.slice(0, 3)), response: details }) } };
      if (e.Type === 'HardBounce') return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: 550, response: `550 5.1.1 ${e.Description ?? 'hard bounce'}` }) } };
      if (e.Type === 'SoftBounce') return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: 552, response: `552 5.2.2 ${e.Description ?? 'soft bounce'}` }) } };
      return { ...base, event: { kind: 'ignored', why: `postmark bounce type ${e.Type ?? '?'} changes nothing here` } };
    }
    case 'SpamComplaint':
      return { ...base, event: { kind: 'complaint', feedbackType: 'abuse' } };
    case 'SubscriptionChange':
      return e.SuppressSending ? { ...base, event: { kind: 'unsubscribe' } } : { ...base, event: { kind: 'ignored', why: 'subscription change without suppression' } };
    default:
      return { ...base, event: { kind: 'ignored', why: `postmark record type ${e.RecordType} changes nothing here` } };
  }
}

async function findDelivery(db: Executor, messageId: string | undefined, recipient: string | undefined): Promise<number | null> {
  const ours = /digest\.e(\d{1,15})\.s(\d{1,15})@/.exec(messageId ?? '');
  if (ours) {
    const row = await db.selectFrom('deliveries').select('id').where('edition_id', '=', Number(ours[1])).where('subscriber_id', '=', Number(ours[2])).executeTakeFirst();
    if (row) return Number(row.id);
  }
  if (!recipient) return null;
  // The person's latest delivery the relay accepted: the one a late report is about.
  const row = await db
    .selectFrom('deliveries')
    .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
    .select('deliveries.id')
    .where(sql`lower(subscribers.email)`, '=', recipient.trim().toLowerCase())
    .where('deliveries.status', 'in', ['sent', 'unknown'])
    .orderBy('deliveries.id', 'desc')
    .executeTakeFirst();
  return row ? Number(row.id) : null;
}

const sesNotification = z.object({
  notificationType: z.string().optional(),
  eventType: z.string().optional(),
  bounce: z.object({ bounceType: z.string(), bounceSubType: z.string().optional(), bouncedRecipients: z.array(z.object({ emailAddress: z.string(), status: z.string().optional(), diagnosticCode: z.string().optional() })) }).optional(),
  complaint: z.object({ complainedRecipients: z.array(z.object({ emailAddress: z.string() })), complaintFeedbackType: z.string().optional() }).optional(),
  mail: z.object({ commonHeaders: z.object({ messageId: z.string().optional() }).passthrough().optional(), headers: z.array(z.object({ name: z.string(), value: z.string() })).optional() }).passthrough().optional(),
});

/** SES notifications (documentation "Amazon SNS notification contents for Amazon SES") inside a verified SNS message. */
function decodeSes(body: unknown): Reading | undefined {
  const message = z.object({ Message: z.string() }).safeParse(body);
  if (!message.success) return undefined;
  let inner: unknown;
  try {
    inner = JSON.parse(message.data.Message);
  } catch {
    return undefined;
  }
  const parsed = sesNotification.safeParse(inner);
  if (!parsed.success) return undefined;
  const n = parsed.data;
  const type = n.notificationType ?? n.eventType;
  const messageId = n.mail?.headers?.find((h) => h.name.toLowerCase() === 'message-id')?.value ?? n.mail?.commonHeaders?.messageId;
  if (type === 'Bounce' && n.bounce) {
    const recipient = n.bounce.bouncedRecipients[0];
    const base = { messageId, recipient: recipient?.emailAddress };
    const diagnostic = (recipient?.diagnosticCode ?? '').replace(/^smtp;\s*/i, '');
    if (n.bounce.bounceType === 'Permanent') {
      if (/^\d{3}\b/.test(diagnostic)) return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: Number(diagnostic.slice(0, 3)), response: diagnostic }) } };
      return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: 550, response: `550 ${recipient?.status ?? '5.1.1'} ${n.bounce.bounceSubType ?? 'permanent bounce'}` }) } };
    }
    if (n.bounce.bounceSubType === 'MailboxFull') return { ...base, event: { kind: 'bounce', failure: classifySmtpError({ responseCode: 552, response: `552 5.2.2 ${diagnostic || 'mailbox full'}` }) } };
    return { ...base, event: { kind: 'ignored', why: `SES ${n.bounce.bounceType} bounce (${n.bounce.bounceSubType ?? '?'}) changes nothing here` } };
  }
  if (type === 'Complaint' && n.complaint) {
    return { messageId, recipient: n.complaint.complainedRecipients[0]?.emailAddress, event: { kind: 'complaint', feedbackType: n.complaint.complaintFeedbackType ?? 'abuse' } };
  }
  return { messageId, recipient: undefined, event: { kind: 'ignored', why: `SES notification ${type ?? '?'} changes nothing here` } };
}

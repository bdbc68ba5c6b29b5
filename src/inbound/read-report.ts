import { classifySmtpError, type SmtpFailure } from '../delivery/smtp-errors.ts';
import { header, parseFields, parseMessage, walk, type MimePart } from './mime.ts';

/**
 * What an inbound message says, read from its MIME structure:
 * - a DSN (RFC 3464: multipart/report; report-type=delivery-status), or one of the older plain
 *   text shapes some large MTAs still send (qmail/Yahoo "Failure Notice", classic Exim): the
 *   failed recipient's reply, classified by the same rules as a direct SMTP reply (smtp-errors.ts);
 * - a complaint (RFC 5965 ARF: multipart/report; report-type=feedback-report);
 * - anything else (an auto-reply, a person writing to the unsubscribe address).
 * The enclosed original, when there is one, gives the addresses a report may be linked by.
 */
export type InboundReading =
  | { type: 'bounce'; action: 'failed' | 'delayed' | 'other'; failure: SmtpFailure | undefined; recipient: string | undefined; original: OriginalMessage }
  | { type: 'complaint'; feedbackType: string; original: OriginalMessage }
  | { type: 'other'; original: OriginalMessage };

export interface OriginalMessage {
  messageId: string | undefined;
  /** Candidate return paths of the original (Return-Path, ARF Original-Mail-From): where our signed reference is. */
  returnPaths: string[];
}

const NO_ORIGINAL: OriginalMessage = { messageId: undefined, returnPaths: [] };

export function readReport(raw: Buffer | string): InboundReading {
  const message = parseMessage(raw);
  const reportType = message.type === 'multipart/report' ? message.params['report-type']?.toLowerCase() : undefined;
  const original = readOriginal(message);
  const statusPart = findPart(message, 'message/delivery-status') ?? findPart(message, 'message/global-delivery-status');
  if (statusPart && (reportType === 'delivery-status' || reportType === 'global-delivery-status' || reportType === undefined)) {
    return { type: 'bounce', ...readDeliveryStatus(statusPart.body), original };
  }
  const feedback = findPart(message, 'message/feedback-report');
  if (feedback && (reportType === 'feedback-report' || reportType === undefined)) {
    const fields = parseFields(feedback.body);
    const feedbackType = (fields.get('feedback-type')?.[0] ?? 'abuse').toLowerCase();
    const mailFrom = fields.get('original-mail-from')?.[0];
    return { type: 'complaint', feedbackType, original: { ...original, returnPaths: [...(mailFrom ? [stripAngles(mailFrom)] : []), ...original.returnPaths] } };
  }
  const plain = readPlainTextBounce(message);
  if (plain) {
    const { copy, ...rest } = plain;
    return { type: 'bounce', action: 'failed', ...rest, original: original.messageId || !copy ? original : readCopy(copy) };
  }
  return { type: 'other', original };
}

function findPart(message: MimePart, type: string): MimePart | undefined {
  for (const part of walk(message)) if (part.type === type) return part;
  return undefined;
}

function stripAngles(value: string): string {
  return value.trim().replace(/^<(.*)>$/, '$1').trim();
}

/** The enclosed original (message/rfc822 or its headers), at most one level down from the report. */
function readOriginal(message: MimePart): OriginalMessage {
  for (const part of message.type.startsWith('multipart/') ? walk(message) : []) {
    if ((part.type === 'message/rfc822' || part.type === 'text/rfc822-headers' || part.type === 'message/rfc822-headers') && part.parts[0]) {
      const enclosed = part.parts[0];
      const returnPath = header(enclosed, 'return-path');
      return { messageId: header(enclosed, 'message-id')?.trim(), returnPaths: returnPath ? [stripAngles(returnPath)] : [] };
    }
  }
  return NO_ORIGINAL;
}

/**
 * The per-recipient fields of a delivery-status body (RFC 3464 §2.3): the first recipient whose
 * action is `failed` (else the first one), its Status and Diagnostic-Code.
 */
function readDeliveryStatus(body: string): { action: 'failed' | 'delayed' | 'other'; failure: SmtpFailure | undefined; recipient: string | undefined } {
  const groups = body.split(/\r?\n[ \t]*\r?\n/).slice(1).map(parseFields).filter((g) => g.has('action') || g.has('status'));
  const chosen = groups.find((g) => g.get('action')?.[0]?.toLowerCase() === 'failed') ?? groups[0];
  if (!chosen) return { action: 'other', failure: undefined, recipient: undefined };
  const actionText = chosen.get('action')?.[0]?.toLowerCase();
  const action = actionText === 'failed' || actionText === 'delayed' ? actionText : 'other';
  const recipient = (chosen.get('final-recipient') ?? chosen.get('original-recipient'))?.[0]?.replace(/^[^;]*;/, '').trim();
  const status = /^\s*([245]\.\d{1,3}\.\d{1,3})/.exec(chosen.get('status')?.[0] ?? '')?.[1];
  // "smtp; 550-5.1.1 …": the type before the semicolon is dropped (RFC 3464 §2.3.6).
  const diagnostic = chosen.get('diagnostic-code')?.[0]?.replace(/^[^;]*;/, '').trim() ?? '';
  return { action, failure: action === 'failed' ? classifyReply(diagnostic, status) : undefined, recipient };
}

/**
 * The reply as the relay would have seen it: the diagnostic's reply code (or one implied by the
 * status class), then the Status field (authoritative per RFC 3464 §2.3.4), then the text.
 */
function classifyReply(diagnostic: string, status: string | undefined): SmtpFailure {
  const reply = /^(\d{3})(?:[ -]|$)\s*(?:#?([245]\.\d{1,3}\.\d{1,3})\b)?\s*(.*)$/s.exec(diagnostic);
  const enhanced = status ?? reply?.[2];
  const code = reply ? Number(reply[1]) : enhanced?.startsWith('5') ? 550 : 450;
  const text = (reply ? reply[3]! : diagnostic).replace(/\s+/g, ' ').trim();
  return classifySmtpError({ responseCode: code, response: `${code} ${enhanced ? `${enhanced} ` : ''}${text}`.trim() });
}

// Subjects of the non-standard bounces (qmail/Yahoo, Exim, old Sendmail, Exchange).
const BOUNCE_SUBJECT = /failure notice|undeliver|delivery (status notification|failure|has failed)|mail delivery failed|returned mail|could not be delivered/i;
// Where the human text ends and the copy of the original begins.
const ORIGINAL_DIVIDER = /^(?:-{2,}\s*)?(?:Below this line is a copy of the message|This is a copy of the message|Original message|Undelivered message)/im;

/**
 * Older, plain text bounces: a null reverse path's reply (we only see it via the headers), an
 * `X-Failed-Recipients` field (Exim) or a bounce subject, and an SMTP reply somewhere in the text.
 */
function readPlainTextBounce(message: MimePart): { failure: SmtpFailure; recipient: string | undefined; copy: string | undefined } | undefined {
  const failedRecipients = header(message, 'x-failed-recipients');
  if (!failedRecipients && !BOUNCE_SUBJECT.test(header(message, 'subject') ?? '')) return undefined;
  const textPart = [...walk(message)].find((p) => p.type === 'text/plain' && p.parts.length === 0 && p.body.trim() !== '');
  if (!textPart) return undefined;
  const divider = ORIGINAL_DIVIDER.exec(textPart.body);
  const text = divider ? textPart.body.slice(0, divider.index) : textPart.body;
  const copy = divider ? textPart.body.slice(divider.index).replace(/^[^\n]*\n(?:\s*\r?\n)*/, '') : undefined;
  // Prefer a line with an enhanced status code; else any "5xx" reply ("554: delivery error: …", qmail).
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const withEnhanced = lines.map((l) => /(?:^|[\s:(#])([45]\d\d)[-: ]\s*#?([45]\.\d{1,3}\.\d{1,3})\b\s*(.*)$/.exec(l)).find(Boolean);
  const anyReply = withEnhanced ?? lines.map((l) => /(?:^|[\s(#])([45]\d\d)(?:[-:]|\s)\s*(.*)$/.exec(l)).find(Boolean);
  if (!anyReply) return undefined;
  const code = Number(anyReply[1]);
  const enhanced = withEnhanced ? withEnhanced[2] : undefined;
  // The text of the reply may continue on the following lines (Exim indents them).
  const rest = withEnhanced ? withEnhanced[3]! : anyReply[2]!;
  const recipient = failedRecipients?.split(',')[0]?.trim() ?? /<([^<>\s]+@[^<>\s]+)>:?\s*$/m.exec(text)?.[1];
  return { failure: classifySmtpError({ responseCode: code, response: `${code} ${enhanced ? `${enhanced} ` : ''}${rest}`.trim() }), recipient, copy };
}

/** The copy of the original a text bounce quotes after its divider line: its header fields. */
function readCopy(copy: string): OriginalMessage {
  const fields = parseFields(copy.split(/\r?\n\r?\n/)[0] ?? '');
  const returnPath = fields.get('return-path')?.[0];
  return { messageId: fields.get('message-id')?.[0], returnPaths: returnPath ? [stripAngles(returnPath)] : [] };
}

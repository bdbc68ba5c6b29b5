/**
 * How a failed SMTP attempt is treated for one recipient (email-standards.md §4.3):
 * - hard_bounce: the mailbox or domain does not exist (5.1.x, 5.2.1): suppress, never retry;
 * - soft_bounce: mailbox full and the like (X.2.2 with a 5xx reply): no retry in this edition,
 *   counted towards suppression over several editions;
 * - policy: 5.7.x or an authentication failure: says something about us, never suppresses the
 *   recipient, and enough of them pause the edition;
 * - transient: any 4xx, a dropped connection, a timeout: retried with backoff;
 * - permanent: any other 5xx: not retried, the recipient is kept;
 * - maybe_delivered: the message went out in full and then the reply never came (a timeout or a
 *   dropped connection after the final dot): the server may have accepted it, so the delivery is
 *   `unknown` and never re-sent automatically.
 */
export type FailureKind = 'transient' | 'hard_bounce' | 'soft_bounce' | 'policy' | 'permanent' | 'maybe_delivered';

export interface SmtpFailure {
  kind: FailureKind;
  responseCode: number | undefined;
  enhancedCode: string | undefined;
  response: string;
  /** A 4xx that, if it is the last attempt, counts as a soft bounce (mailbox full, over quota). */
  softIfFinal: boolean;
  /**
   * Where it failed: opening the connection (refused, a 421 greeting, EHLO: the relay's state,
   * nothing about this recipient), or inside the transaction.
   */
  stage: 'connection' | 'transaction';
}

// nodemailer names the connection phase CONN (greeting) and the handshake commands by name.
const CONNECTION_COMMANDS = new Set(['CONN', 'EHLO', 'HELO', 'STARTTLS']);
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EDNS']);

// Anchored after the reply code ("550 5.1.1 …" or "550-5.1.1 …"), so digits in the free text
// (an IP address, a date) are never taken for a status code.
const ENHANCED = /^\s*(\d{3})[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/;
const LOOSE = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

export function parseEnhancedStatusCode(text: string): string | undefined {
  const anchored = ENHANCED.exec(text);
  if (anchored) return `${anchored[2]}.${anchored[3]}.${anchored[4]}`;
  // Some error texts carry the code without the reply code in front ("5.1.1 user unknown").
  const loose = /^\s*[245]\.\d/.test(text) ? LOOSE.exec(text) : null;
  return loose ? `${loose[1]}.${loose[2]}.${loose[3]}` : undefined;
}

export function classifySmtpError(error: unknown): SmtpFailure {
  const e = error as { responseCode?: number; response?: string; message?: string; code?: string; command?: string; maybeDelivered?: boolean; connecting?: boolean };
  const response = String(e.response ?? e.message ?? error).slice(0, 1000);
  let responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  if (responseCode === undefined) {
    const leading = /^\s*(\d{3})[ -]/.exec(response);
    if (leading) responseCode = Number(leading[1]);
  }
  const enhancedCode = parseEnhancedStatusCode(response);
  const [, subject, detail] = enhancedCode?.split('.') ?? [];
  const mailboxFull = subject === '2' && detail === '2';
  const connecting = e.connecting === true || (e.command !== undefined && CONNECTION_COMMANDS.has(e.command)) || (e.code !== undefined && CONNECTION_CODES.has(e.code));
  const stage = connecting && e.maybeDelivered !== true ? 'connection' : 'transaction';
  const result = (kind: FailureKind, softIfFinal = false): SmtpFailure => ({ kind, responseCode, enhancedCode, response, softIfFinal, stage });

  if (e.maybeDelivered === true) return result('maybe_delivered');
  if (e.code === 'EAUTH' || responseCode === 535) return result('policy');
  if (responseCode === undefined || responseCode < 500 || responseCode === 503) {
    // 4xx: X.2.x is about the mailbox (full, over rate): retry, and count it if it never clears.
    return result('transient', subject === '2');
  }
  if (enhancedCode?.startsWith('5.1.') || enhancedCode === '5.2.1') return result('hard_bounce');
  if (mailboxFull) return result('soft_bounce');
  if (subject === '7') return result('policy');
  if (
    !enhancedCode &&
    // 554 too: qmail-style servers (Yahoo's "554 delivery error: dd This user doesn't have a
    // yahoo.com account") answer a missing mailbox with it and no enhanced code.
    (responseCode === 550 || responseCode === 551 || responseCode === 553 || responseCode === 554) &&
    /user|mailbox|recipient|address/i.test(response) &&
    /unknown|not exist|no such|invalid|(?:doesn't|does not) have an? [\w.-]+ account/i.test(response)
  ) {
    return result('hard_bounce');
  }
  return result('permanent');
}

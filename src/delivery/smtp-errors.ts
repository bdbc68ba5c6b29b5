/** How a failed SMTP attempt is treated for one recipient. */
export type FailureKind = 'transient' | 'hard_bounce' | 'permanent';

export interface SmtpFailure {
  kind: FailureKind;
  responseCode: number | undefined;
  enhancedCode: string | undefined;
  response: string;
}

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

export function parseEnhancedStatusCode(text: string): string | undefined {
  const match = ENHANCED.exec(text);
  return match ? `${match[1]}.${match[2]}.${match[3]}` : undefined;
}

/**
 * Hard means the mailbox or domain does not exist (5.1.x), not "any 5xx": policy and
 * authentication rejections (5.7.x) say something about us, never suppress the recipient.
 * Anything without a 5xx reply (4xx, dropped connection, timeout) is worth retrying.
 */
export function classifySmtpError(error: unknown): SmtpFailure {
  const e = error as { responseCode?: number; response?: string; message?: string };
  const response = String(e.response ?? e.message ?? error);
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const enhancedCode = parseEnhancedStatusCode(response);
  let kind: FailureKind = 'transient';
  if (responseCode !== undefined && responseCode >= 500 && responseCode !== 503) {
    if (enhancedCode?.startsWith('5.1.')) kind = 'hard_bounce';
    else if (enhancedCode === '5.2.2') kind = 'transient'; // mailbox full is soft
    else if (!enhancedCode && (responseCode === 550 || responseCode === 551 || responseCode === 553) && /user|mailbox|recipient|address/i.test(response) && /unknown|not exist|no such|invalid/i.test(response)) kind = 'hard_bounce';
    else kind = 'permanent';
  }
  return { kind, responseCode, enhancedCode, response };
}

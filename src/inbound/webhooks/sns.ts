import { createVerify } from 'node:crypto';
import https from 'node:https';
import { z } from 'zod';

/**
 * Amazon SNS message signatures (AWS documentation "Verifying the signatures of Amazon SNS
 * messages"): the signing certificate is fetched only from an allowlisted host over https, the
 * canonical string of the message's fields is verified with SHA1withRSA (SignatureVersion 1) or
 * SHA256withRSA (SignatureVersion 2).
 */
export interface SnsSettings {
  /** Host names the SigningCertURL and SubscribeURL may point at. */
  readonly hostPattern: RegExp;
  /** Extra CA for those https fetches (tests only: their local server's certificate). */
  readonly ca: string | undefined;
  readonly topicArns: readonly string[];
}

export const SNS_HOSTS = /^sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;

export const snsMessage = z.object({
  Type: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
  MessageId: z.string().max(200),
  TopicArn: z.string().max(300),
  Message: z.string().max(200_000),
  Timestamp: z.string().max(50),
  SignatureVersion: z.enum(['1', '2']),
  Signature: z.string().max(2000),
  SigningCertURL: z.string().max(1000),
  Subject: z.string().max(1000).optional(),
  SubscribeURL: z.string().max(2000).optional(),
  Token: z.string().max(2000).optional(),
});
export type SnsMessage = z.infer<typeof snsMessage>;

const FIELDS: Record<SnsMessage['Type'], (keyof SnsMessage)[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

function stringToSign(message: SnsMessage): string {
  let text = '';
  for (const field of FIELDS[message.Type]) {
    const value = message[field];
    if (value !== undefined) text += `${field}\n${value}\n`;
  }
  return text;
}

export function allowedUrl(settings: SnsSettings, url: string): URL | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && settings.hostPattern.test(parsed.hostname) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function httpsGet(settings: SnsSettings, url: URL, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca: settings.ca, timeout: 5000 }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        return reject(new Error(`GET ${url.hostname} answered ${response.statusCode}`));
      }
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > limit) request.destroy(new Error('response too large'));
      });
      response.on('end', () => resolve(body));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

const certificates = new Map<string, string>();

/** Undefined when the message verifies; else what is wrong with it. */
export async function verifySnsMessage(settings: SnsSettings, message: SnsMessage): Promise<string | undefined> {
  if (!settings.topicArns.includes(message.TopicArn)) return 'topic not allowed';
  const certUrl = allowedUrl(settings, message.SigningCertURL);
  if (!certUrl) return 'SigningCertURL is not an allowed https host';
  let pem = certificates.get(certUrl.href);
  if (!pem) {
    pem = await httpsGet(settings, certUrl);
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) return 'SigningCertURL did not serve a certificate';
    if (certificates.size > 20) certificates.clear();
    certificates.set(certUrl.href, pem);
  }
  const verifier = createVerify(message.SignatureVersion === '2' ? 'RSA-SHA256' : 'RSA-SHA1');
  verifier.update(stringToSign(message), 'utf8');
  try {
    return verifier.verify(pem, message.Signature, 'base64') ? undefined : 'signature does not verify';
  } catch {
    return 'signature does not verify';
  }
}

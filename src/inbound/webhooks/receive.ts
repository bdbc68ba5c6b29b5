import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { Logger } from '../../logger.ts';
import { storeReports } from '../inbound-report.repository.ts';
import type { ReportSource } from '../inbound-report.table.ts';
import { reportDeps } from '../inbound-service.ts';
import { processReport } from '../process-report.ts';
import { mailgunPayload } from './decode.ts';
import { allowedUrl, httpsGet, snsMessage, verifySnsMessage } from './sns.ts';
import { claimReplayKey, verifyMailgunSignature, verifyPostmark } from './verify.ts';

export type WebhookVerdict = { status: 200; outcome: string } | { status: 400 | 401 | 404; error: string };

/**
 * A relay's webhook call: authenticated first (nothing is stored for a forged, stale or replayed
 * call), then stored like a mailed report and processed at once; should processing fail, the
 * report processor's sweep does it later (src/inbound/processor.ts).
 */
export async function receiveWebhook(
  deps: { config: Config; db: Database; log: Logger },
  source: Extract<ReportSource, 'mailgun' | 'postmark' | 'ses'>,
  request: { body: unknown; authorization: string | undefined; queryToken: string | undefined; ip: string },
): Promise<WebhookVerdict> {
  const { webhooks } = deps.config;
  if (source === 'mailgun') {
    if (!webhooks.mailgunSigningKey) return { status: 404, error: 'the Mailgun webhook is not configured (MAILGUN_WEBHOOK_SIGNING_KEY)' };
    const parsed = mailgunPayload.safeParse(request.body);
    if (!parsed.success) return { status: 400, error: 'not a Mailgun webhook payload (signature and event-data expected)' };
    const problem = verifyMailgunSignature(webhooks.mailgunSigningKey, parsed.data.signature);
    if (problem) {
      deps.log.warn({ source, problem, ip: request.ip }, 'webhook refused');
      return { status: 401, error: problem === 'forged' ? 'signature does not verify' : 'timestamp outside the signature window' };
    }
    if (!(await claimReplayKey(deps.db, `mailgun:${parsed.data.signature.token}`))) {
      deps.log.warn({ source, ip: request.ip }, 'webhook refused: replayed token');
      return { status: 401, error: 'this signed call was already received (replay)' };
    }
  } else if (source === 'ses') {
    if (!webhooks.sns) return { status: 404, error: 'the SES webhook is not configured (SES_SNS_TOPIC_ARNS)' };
    const parsed = snsMessage.safeParse(typeof request.body === 'string' ? safeJson(request.body) : request.body);
    if (!parsed.success) return { status: 400, error: 'not an SNS message' };
    const problem = await verifySnsMessage(webhooks.sns, parsed.data).catch((error: unknown) => `certificate fetch failed: ${String((error as Error).message)}`);
    if (problem) {
      deps.log.warn({ source, problem, ip: request.ip }, 'webhook refused');
      return { status: 401, error: problem };
    }
    if (!(await claimReplayKey(deps.db, `sns:${parsed.data.MessageId}`))) return { status: 200, outcome: 'already received (SNS redelivery)' };
    if (parsed.data.Type !== 'Notification') {
      // Confirming the subscription is a GET of SubscribeURL, only ever on an allowed SNS host.
      const url = parsed.data.Type === 'SubscriptionConfirmation' && parsed.data.SubscribeURL ? allowedUrl(webhooks.sns, parsed.data.SubscribeURL) : undefined;
      if (parsed.data.Type === 'SubscriptionConfirmation' && !url) return { status: 400, error: 'SubscribeURL is not an allowed https host' };
      if (url) await httpsGet(webhooks.sns, url);
      deps.log.info({ source, type: parsed.data.Type, topic: parsed.data.TopicArn }, 'SNS subscription message handled');
      return { status: 200, outcome: parsed.data.Type };
    }
    request = { ...request, body: parsed.data };
  } else {
    if (!webhooks.postmarkToken) return { status: 404, error: 'the Postmark webhook is not configured (POSTMARK_WEBHOOK_TOKEN)' };
    if (!verifyPostmark(webhooks.postmarkToken, request.authorization, request.queryToken)) {
      deps.log.warn({ source, ip: request.ip }, 'webhook refused: bad credentials');
      return { status: 401, error: 'basic auth password or token does not match' };
    }
    if (typeof request.body !== 'object' || request.body === null || typeof (request.body as { RecordType?: unknown }).RecordType !== 'string') {
      return { status: 400, error: 'not a Postmark webhook payload (RecordType expected)' };
    }
  }
  const [id] = await storeReports(deps.db, [
    { source, remoteIp: request.ip, envelopeFrom: null, recipient: null, purpose: 'webhook', deliveryId: null, raw: Buffer.from(JSON.stringify(request.body), 'utf8') },
  ]);
  const result = await processReport(reportDeps(deps.config, deps.db, deps.log), id!);
  return { status: 200, outcome: result ? `${result.kind}: ${result.outcome}` : 'stored; processing later' };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { Logger } from '../../logger.ts';
import { storeReports } from '../inbound-report.repository.ts';
import type { ReportSource } from '../inbound-report.table.ts';
import { reportDeps } from '../inbound-service.ts';
import { processReport } from '../process-report.ts';
import { mailgunPayload } from './decode.ts';
import { claimReplayKey, verifyMailgunSignature, verifyPostmark } from './verify.ts';

export type WebhookVerdict = { status: 200; outcome: string } | { status: 400 | 401 | 404; error: string };

/**
 * A relay's webhook call: authenticated first (nothing is stored for a forged, stale or replayed
 * call), then stored like a mailed report and processed at once; should processing fail, the
 * report processor's sweep does it later (src/inbound/processor.ts).
 */
export async function receiveWebhook(
  deps: { config: Config; db: Database; log: Logger },
  source: Extract<ReportSource, 'mailgun' | 'postmark'>,
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

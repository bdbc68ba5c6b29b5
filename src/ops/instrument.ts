import type { Job } from 'bullmq';
import type { DigestTransport } from '../delivery/digest-transport.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { classifySmtpError, parseEnhancedStatusCode } from '../delivery/smtp-errors.ts';
import { logContext } from '../logger.ts';
import type { JobName } from '../queue/jobs.ts';
import type { JobHandler, JobHandlers } from '../queue/workers.ts';
import { processInstruments } from './metrics.ts';

/** `accepted`, or the class of the refusal: `5.1` (enhanced class.subject), `550`, or `connection`. */
function refusalClass(error: unknown): string {
  const failure = classifySmtpError(error);
  const enhanced = failure.enhancedCode ?? parseEnhancedStatusCode(failure.response);
  if (enhanced) return enhanced.split('.').slice(0, 2).join('.');
  return failure.responseCode ? String(failure.responseCode) : 'connection';
}

function timedSend(kind: string) {
  const { smtpSeconds, messages } = processInstruments();
  return async <T>(send: () => Promise<T>): Promise<T> => {
    const end = smtpSeconds.startTimer({ kind });
    try {
      const result = await send();
      end({ outcome: 'accepted' });
      messages.inc({ kind, outcome: 'accepted' });
      return result;
    } catch (error) {
      const outcome = refusalClass(error);
      end({ outcome });
      messages.inc({ kind, outcome });
      throw error;
    }
  };
}

/** Times every SMTP hand-over of general mail (confirmations) and counts its outcomes. */
export function instrumentMailer(mailer: Mailer): Mailer {
  const timed = timedSend('transactional');
  return {
    send: (message) => timed(() => mailer.send(message)),
    sendRaw: (envelope, raw) => timed(() => mailer.sendRaw(envelope, raw)),
    drain: () => mailer.drain(),
    abort: () => mailer.abort(),
    close: () => mailer.close(),
  };
}

/** The same for digests, whichever path (fast client or nodemailer) the transport takes. */
export function instrumentTransport(transport: DigestTransport): DigestTransport {
  const timed = timedSend('digest');
  return {
    send: (envelope, message) => timed(() => transport.send(envelope, message)),
    drain: () => transport.drain(),
    abort: () => transport.abort(),
    close: () => transport.close(),
  };
}

/** Which paper source a job polls, for the ingestion counters. */
const ingestSource: Partial<Record<JobName, string>> = { 'ingest-day': 'huggingface', 'enrich-arxiv': 'arxiv' };

/**
 * Runs every job inside a log context (its id, name and queue on every line logged meanwhile)
 * and counts and times it.
 */
export function instrumentHandlers(handlers: JobHandlers): JobHandlers {
  const { jobs, jobSeconds, ingestPolls } = processInstruments();
  const wrap = <N extends JobName>(name: N, handler: JobHandler<N>): JobHandler<N> =>
    (data, job: Job) =>
      logContext.run({ jobId: job.id, job: name, queue: job.queueName }, async () => {
        const end = jobSeconds.startTimer({ queue: job.queueName, job: name });
        const source = ingestSource[name];
        try {
          const result = await handler(data, job);
          jobs.inc({ queue: job.queueName, job: name, outcome: 'completed' });
          if (source) ingestPolls.inc({ source, outcome: 'ok' });
          return result;
        } catch (error) {
          jobs.inc({ queue: job.queueName, job: name, outcome: 'failed' });
          if (source) ingestPolls.inc({ source, outcome: 'failed' });
          throw error;
        } finally {
          end();
        }
      });
  const wrapped = {} as Record<JobName, JobHandler<JobName>>;
  for (const [name, handler] of Object.entries(handlers) as [JobName, JobHandler<JobName>][]) wrapped[name] = wrap(name, handler);
  return wrapped as JobHandlers;
}

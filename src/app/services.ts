import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { DeliveryDeps } from '../delivery/deps.ts';
import { pauseSending, resumeSending } from '../delivery/pause.ts';
import { requestDailyDigest } from '../delivery/request.ts';
import { deliverDue, type DueRun } from '../delivery/deliver-due.ts';
import { requestWelcomeEdition } from '../delivery/welcome.ts';
import type { EditionSettings } from '../editions/edition.service.ts';
import type { Edition } from '../editions/edition.table.ts';
import { findSendRunByEdition } from '../delivery/send-run.repository.ts';
import type { SendRun } from '../delivery/send-run.table.ts';
import type { Logger } from '../logger.ts';
import type { Queues } from '../queue/queues.ts';
import type { Readable } from 'node:stream';
import { exportSubscribersCsv, importSubscribersCsv, type ImportConsent, type ImportReport } from '../subscribers/subscriber-csv.ts';
import { confirmSubscription, subscribe, type SubscribeInput } from '../subscribers/subscription.service.ts';
import { resubscribe, type RequestOrigin } from '../subscribers/mail-links.service.ts';
import { requestDataAccessLink } from '../subscribers/data-access.service.ts';
import type { VerificationSecrets } from '../subscribers/tokens.ts';
import { deliveryJobs, enqueueImportConfirmations, mailJobOptions, subscriptionJobs } from './jobs.ts';

export interface Infrastructure {
  config: Config;
  db: Database;
  queues: Queues;
  log: Logger;
}

/**
 * The feature services every role shares (HTTP routes, CLI commands, job handlers), built once
 * per process from its infrastructure.
 */
export interface AppServices {
  /** What the delivery modules are given: database, job port, logger, settings. */
  delivery: DeliveryDeps & { edition: EditionSettings };
  requestDailyDigest(day: string): Promise<{ edition: Edition; run?: SendRun }>;
  /** A confirmation link used: activates the reader and, when configured, sends the welcome edition. */
  confirmSubscription(token: string, request: { ip: string; userAgent: string | null }): Promise<'confirmed' | 'already_confirmed'>;
  /** The welcome edition of a reader (welcome.ts), from its job. */
  requestWelcomeEdition(subscriberId: number): ReturnType<typeof requestWelcomeEdition>;
  /** One hourly tick: every reader's due edition at their own local hour (deliver-due.ts). */
  deliverDue(at: Date): Promise<DueRun[]>;
  /** Resumes the paused send run of an edition; undefined when there is none paused. */
  resumeEdition(editionId: number): Promise<SendRun | undefined>;
  /** Pauses the planning or sending run of an edition (an operator's decision); false when none is in flight. */
  pauseEdition(editionId: number, reason: string): Promise<boolean>;
  subscribe(input: SubscribeInput): Promise<void>;
  resubscribe(secrets: VerificationSecrets, token: string, origin: RequestOrigin): ReturnType<typeof resubscribe>;
  requestDataAccessLink(secrets: VerificationSecrets, token: string): Promise<void>;
  /** A CSV of addresses into the list (see subscriber-csv.ts); `source` names the file or request. */
  importSubscribers(csv: Readable | Buffer | string, consent: ImportConsent, source: string): Promise<ImportReport>;
  exportSubscribers(): Readable;
}

export function editionSettings(config: Config): EditionSettings {
  return { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers };
}

export function createServices({ config, db, queues, log }: Infrastructure): AppServices {
  const delivery = { db, jobs: deliveryJobs(queues), log, delivery: config.delivery, edition: editionSettings(config) };
  const mailRetry = mailJobOptions(config.delivery);
  const mailJobs = subscriptionJobs(queues, mailRetry, { welcomeEdition: config.welcomeEdition });
  return {
    delivery,
    requestDailyDigest: (day) => requestDailyDigest(delivery, day),
    // With a fixed daily send configured (DIGEST_HOUR / DIGEST_CRON), daily readers get it then,
    // and the ticks serve weekly readers only.
    confirmSubscription: (token, request) => confirmSubscription(db, token, request, mailJobs),
    requestWelcomeEdition: (subscriberId) => requestWelcomeEdition(delivery, subscriberId),
    deliverDue: (at) => deliverDue(delivery, at, config.fixedDigestSchedule ? ['weekly'] : ['daily', 'weekly']),
    async resumeEdition(editionId) {
      const run = await findSendRunByEdition(db, editionId);
      return run && resumeSending(delivery, run.id);
    },
    async pauseEdition(editionId, reason) {
      const run = await findSendRunByEdition(db, editionId);
      if (!run || (run.status !== 'planning' && run.status !== 'sending')) return false;
      await pauseSending(delivery, undefined, run.id, reason);
      return (await findSendRunByEdition(db, editionId))?.status === 'paused';
    },
    subscribe: (input) => subscribe({ db, ...mailJobs }, input),
    resubscribe: (secrets, token, origin) => resubscribe({ db, ...mailJobs }, secrets, token, origin),
    requestDataAccessLink: (secrets, token) => requestDataAccessLink({ db, ...mailJobs }, secrets, token),
    importSubscribers: (csv, consent, source) =>
      importSubscribersCsv({ db, queueConfirmations: enqueueImportConfirmations(queues, config.sendRate, mailRetry) }, csv, consent, source),
    exportSubscribers: () => exportSubscribersCsv(db),
  };
}

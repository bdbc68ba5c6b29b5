import type { Config } from '../config.ts';
import { findEditionByDate } from '../editions/edition.repository.ts';
import { withDatabase } from './database.ts';
import { send } from './sending.ts';

/** Puts the unknown rows back in the queue, reopens the edition and sends like `send` does. */
async function resendUnknown(config: Config, day: string): Promise<number> {
  const { requeueUnknownDeliveries } = await import('../delivery/unknown-deliveries.repository.ts');
  const { findSendRunByEdition, reopenRun } = await import('../delivery/send-run.repository.ts');
  const requeued = await withDatabase(config, (db) =>
    db.transaction().execute(async (trx) => {
      const edition = await findEditionByDate(trx, 'daily', day);
      if (!edition) return `No edition for ${day}.`;
      const run = await findSendRunByEdition(trx, edition.id);
      if (!run || run.status !== 'sent') return `Edition ${edition.id} is ${run?.status ?? edition.status}; re-send its unknown deliveries once it has finished.`;
      const n = await requeueUnknownDeliveries(trx, run.id);
      await reopenRun(trx, run.id);
      return n;
    }),
  );
  if (typeof requeued === 'string') {
    console.error(requeued);
    return 1;
  }
  console.log(`${requeued} deliveries are queued again; sending.`);
  return send(config, day);
}

const UNKNOWN_RISK = {
  'mark-sent':
    'Marking them sent sends nothing. Do it when the relay\'s logs show it accepted these Message-IDs; otherwise these readers miss this edition.',
  resend:
    'Re-sending sends each of them again. Any message the relay had in fact accepted arrives twice (with the same Message-ID, which some mail programs use to hide the copy).',
};

/** `paperboy unknown`: the operator's way out of `unknown`, always with the risk spelled out. */
export async function unknownDeliveries(config: Config, day: string, action: 'list' | 'mark-sent' | 'resend', yes: boolean): Promise<number> {
  const { findUnknownDeliveries, markUnknownDeliveriesSent } = await import('../delivery/unknown-deliveries.repository.ts');
  const { findSendRunByEdition } = await import('../delivery/send-run.repository.ts');
  const outcome = await withDatabase(config, async (db) => {
    const edition = await findEditionByDate(db, 'daily', day);
    if (!edition) {
      console.error(`No edition for ${day}.`);
      return 1;
    }
    const run = await findSendRunByEdition(db, edition.id);
    const rows = run ? await findUnknownDeliveries(db, run.id) : [];
    if (rows.length === 0) {
      console.log(`Edition ${edition.id} (${day}) has no unknown deliveries.`);
      return 0;
    }
    console.log(`Edition ${edition.id} (${day}): ${rows.length} deliveries are unknown; the relay may or may not have accepted them.`);
    for (const r of rows.slice(0, 200)) {
      console.log(`  ${r.email}  ${r.messageId ?? '-'}  attempts ${r.attempts}  ${r.updatedAt.toISOString()}  ${r.reason ?? ''}`);
    }
    if (rows.length > 200) console.log(`  … and ${rows.length - 200} more`);
    if (action === 'list') {
      console.log(`Look the Message-IDs up in the relay's logs, then:\n  paperboy unknown --date ${day} --mark-sent --yes   ${UNKNOWN_RISK['mark-sent']}\n  paperboy unknown --date ${day} --resend --yes      ${UNKNOWN_RISK.resend}`);
      return 0;
    }
    console.log(UNKNOWN_RISK[action]);
    if (!yes) {
      console.error(`Nothing changed: add --yes to ${action === 'resend' ? 're-send' : 'mark sent'} these ${rows.length} deliveries.`);
      return 2;
    }
    if (action === 'mark-sent') {
      console.log(`${await markUnknownDeliveriesSent(db, run!.id)} deliveries marked sent.`);
      return 0;
    }
    return 'resend' as const;
  });
  if (outcome !== 'resend') return outcome;
  return resendUnknown(config, day);
}

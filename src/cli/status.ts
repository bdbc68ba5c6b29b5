import type { Config } from '../config.ts';
import { findEditionReports, formatEditionReport } from '../delivery/edition-report.ts';
import { countSubscribersByStatus } from '../subscribers/subscriber.repository.ts';
import { withDatabase } from './database.ts';

export async function status(config: Config, day: string | undefined): Promise<void> {
  await withDatabase(config, async (db) => {
    const subscribers = await countSubscribersByStatus(db);
    console.log('Subscribers:', Object.entries(subscribers).map(([k, v]) => `${k} ${v}`).join(', '));
    const reports = await findEditionReports(db, { date: day, limit: day ? 1 : 5 });
    if (reports.length === 0) console.log(day ? `No edition for ${day}.` : 'No editions yet.');
    for (const report of reports) console.log(formatEditionReport(report));
  });
}

import type { Config } from '../config.ts';
import { openDatabase, Resources } from '../app/infrastructure.ts';
import { createLogger } from '../logger.ts';

export async function withDatabase<T>(config: Config, fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>, migrate = false): Promise<T> {
  const resources = new Resources();
  const log = createLogger('silent');
  try {
    return await fn(await openDatabase(config, resources, { migrate }));
  } finally {
    await resources.closeAll(log);
  }
}

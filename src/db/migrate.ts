import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileMigrationProvider, Migrator, type MigrationResultSet } from 'kysely/migration';
import type { Database } from './database.ts';

export const migrationsFolder = path.join(import.meta.dirname, '../../migrations');

export function createMigrator(db: Database): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({
      fs,
      path,
      migrationFolder: migrationsFolder,
      // Loading through this module's import() lets vitest and tsx transform the .ts files.
      import: (file: string) => import(pathToFileURL(file).href),
    }),
  });
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly results: MigrationResultSet['results'],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

/** Applies every pending migration; throws (instead of returning an error) when one fails. */
export async function migrateToLatest(db: Database): Promise<string[]> {
  const { error, results } = await createMigrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed: ${String((error as Error).message ?? error)}`, results, {
      cause: error,
    });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** The database lacks migrations this code needs: an operator step, not a crash. */
export class NotMigratedError extends Error {
  constructor(readonly pending: string[]) {
    super(`the database is not migrated (${pending.length} pending: ${pending.slice(0, 3).join(', ')}${pending.length > 3 ? ', …' : ''}); run \`paperboy migrate\` first`);
    this.name = 'NotMigratedError';
  }
}

/** Throws NotMigratedError unless every migration of this code has been applied. */
export async function assertMigrated(db: Database): Promise<void> {
  const pending = (await createMigrator(db).getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
  if (pending.length > 0) throw new NotMigratedError(pending);
}

import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/** Stores a new session and drops expired ones (there are few: one per sign-in). */
export async function insertAdminSession(db: Executor, tokenHash: Buffer, expiresAt: Date): Promise<void> {
  await db.deleteFrom('admin_sessions').where('expires_at', '<=', sql<Date>`now()`).execute();
  await db.insertInto('admin_sessions').values({ token_hash: tokenHash, expires_at: expiresAt }).execute();
}

/** The session of this token hash while it has not expired. */
export async function findLiveAdminSession(db: Executor, tokenHash: Buffer) {
  return db
    .selectFrom('admin_sessions')
    .select(['id', 'created_at', 'expires_at'])
    .where('token_hash', '=', tokenHash)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
}

export async function deleteAdminSession(db: Executor, tokenHash: Buffer): Promise<void> {
  await db.deleteFrom('admin_sessions').where('token_hash', '=', tokenHash).execute();
}

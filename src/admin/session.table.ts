import type { ColumnType, Generated } from 'kysely';

/** One signed-in admin console session; the cookie carries the token, this row its hash. */
export interface AdminSessionsTable {
  id: Generated<number>;
  token_hash: Buffer;
  created_at: ColumnType<Date, Date | undefined, never>;
  expires_at: Date;
}

import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB } from './schema.ts';

export type Database = Kysely<DB>;
/** Repositories take either, so callers decide the transaction boundary. */
export type Executor = Kysely<DB> | Transaction<DB>;

let typeParsersSet = false;
function setTypeParsers(): void {
  if (typeParsersSet) return;
  typeParsersSet = true;
  // bigint ids stay far below 2^53; numbers are easier to carry in job payloads than strings.
  pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
  // A date is a calendar day, not an instant: keep 'YYYY-MM-DD' instead of a local-midnight Date.
  pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
}

/** SQL texts sent as named prepared statements (preparedStatement), and their names. */
const preparedNames = new Map<string, string>();

/**
 * Marks a statement's SQL text to be sent as a named prepared statement on every connection of
 * every pool createDatabase makes: each connection parses it once, and PostgreSQL keeps its plan
 * (after five executions, a generic plan when that costs no more than planning each time). For a
 * hot statement whose planning costs as much as running it (the topic feed's search,
 * src/papers/topic-search.ts). Only a few fixed texts belong here: each stays prepared on each
 * connection for the connection's life. Returns the text, to execute as usual.
 */
export function preparedStatement(text: string): string {
  if (!preparedNames.has(text)) preparedNames.set(text, `paperboy_${preparedNames.size + 1}`);
  return text;
}

type QueryFn = (...args: unknown[]) => unknown;

/** Sends the texts preparedStatement marked as named statements (node-postgres prepares a name once per connection). */
function namePreparedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (text: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof text === 'string' ? preparedNames.get(text) : undefined;
    if (name === undefined) return query(text, values, callback);
    return query({ name, text, values }, callback);
  };
}

export function createDatabase(
  databaseUrl: string,
  options: { max?: number; onConnectionError?: (error: Error) => void } = {},
): Database {
  setTypeParsers();
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    // A database that does not answer must not hold a caller for ever; the retry helper waits instead.
    connectionTimeoutMillis: 10_000,
    // No JIT compilation: every statement here is short or a set-based bulk one, and the cost
    // estimates that trigger JIT overshoot while a run's ledger grows faster than its statistics.
    // Measured on planning 1,000,000 readers: JIT took 1.4 s of a 2.2 s statement per range.
    // Set when the connection starts (a startup parameter), not by a query queued before the
    // caller's: pg deprecates queueing a query behind another. An `options` parameter in
    // DATABASE_URL replaces this one.
    options: '-c jit=off',
  });
  const onError = (error: Error) => options.onConnectionError?.(error);
  // A connection can die while idle in the pool (the pool's 'error') or while checked out (the
  // client's 'error', which pg-pool does not listen to then). Either, unheard, is an uncaught
  // 'error' event that ends the process; heard, the query in flight fails with the error, the
  // pool drops the broken client, and the next query opens a new connection.
  pool.on('error', onError);
  pool.on('connect', (client) => {
    client.on('error', onError);
    namePreparedStatements(client);
  });
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

/** Creates the database named in the URL when it does not exist yet (connects to `postgres`). */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount && found.rowCount > 0) return false;
    try {
      await client.query(`create database ${pg.escapeIdentifier(name)}`);
    } catch (error) {
      // Another process may have created it between the check and the create.
      if ((error as { code?: string }).code !== '42P04') throw error;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

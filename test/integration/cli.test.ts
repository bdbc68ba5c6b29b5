import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleDataFile } from '../../src/papers/import-file.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startFakeServer, type FakeServer } from '../helpers/papers-fake-server.ts';

const run = promisify(execFile);
const cli = path.join(import.meta.dirname, '../../bin/paperboy.js');

/** The real `paperboy` command in a child process, as an operator runs it. */
describe('paperboy CLI', () => {
  let testDb: TestDatabase;
  let hf: FakeServer;
  const sample = JSON.parse(readFileSync(sampleDataFile, 'utf8')) as { publishedAt: string }[];
  beforeAll(async () => {
    testDb = await createTestDatabase();
    hf = await startFakeServer((req, res, request) => {
      const day = request.query.get('date');
      const page = Number(request.query.get('p') ?? 0);
      const items = page === 0 ? sample.filter((item) => item.publishedAt.startsWith(day ?? '')) : [];
      if (day === '2025-12-21') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>not json</html>');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(items));
    });
  });
  afterAll(async () => {
    await hf?.close();
    await testDb?.drop();
  });

  const paperboy = async (args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
        env: { ...process.env, DATABASE_URL: testDb.url, HF_API_URL: hf.url, NODE_ENV: 'test', LOG_LEVEL: 'silent' },
        timeout: 150_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('ingests days from the Daily Papers API with a summary, and a re-run only updates', { timeout: 120_000 }, async () => {
    const first = await paperboy(['ingest', '--date', '2025-12-26', '--days', '2']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('[1/2] 2025-12-26 … 10 fetched, 10 new, 0 updated, 0 invalid');
    expect(first.stdout).toContain('[2/2] 2025-12-25 … 10 fetched, 10 new, 0 updated, 0 invalid');
    expect(first.stdout).toContain('Total: 20 fetched, 20 new, 0 updated, 0 invalid, 0 failed days');
    const again = await paperboy(['ingest', '--date', '2025-12-26']);
    expect(again.stdout).toContain('Total: 10 fetched, 0 new, 10 updated');
    const count = await testDb.db.selectFrom('papers').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(20);
  });

  it('reports a day whose response is not JSON, stores nothing from it, and exits 1', { timeout: 120_000 }, async () => {
    const result = await paperboy(['ingest', '--date', '2025-12-21']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/2025-12-21 … failed: .*JSON/i);
  });

  it('exits 2 with a message for bad usage', async () => {
    const cases: [string[], RegExp][] = [
      [['send'], /--date YYYY-MM-DD is required/],
      [['send', '--date', '2025-13-45'], /calendar day/],
      [['ingest', '--days', '0'], /--days must be/],
      [['frobnicate'], /unknown command/],
      [['import'], /import needs a FILE/],
      [['status', '--bogus'], /Unknown option/i],
    ];
    const results = await Promise.all(cases.map(([args]) => paperboy(args)));
    results.forEach((result, i) => {
      expect(result.code, cases[i]![0].join(' ')).toBe(2);
      expect(result.stderr).toMatch(cases[i]![1]);
    });
    // Six cold starts of the TypeScript CLI at once on two cores.
  }, 180_000);

  it('exits 2 naming the variable when the configuration is bad', { timeout: 120_000 }, async () => {
    const { code, stderr } = await run(process.execPath, [cli, 'status'], { env: { ...process.env, DIGEST_HOUR: '25', DATABASE_URL: testDb.url } }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(code).toBe(2);
    expect(stderr).toContain('DIGEST_HOUR');
  });

  it('imports a file, reporting invalid items, and refuses a file that is not an array', { timeout: 120_000 }, async () => {
    const ok = await paperboy(['import', sampleDataFile]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/50 items: 30 new, 20 updated, 0 invalid/);
    const bad = await paperboy(['import', path.join(import.meta.dirname, '../../package.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('must hold a JSON array');
  });
});

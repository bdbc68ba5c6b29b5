import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

/**
 * One person per mailbox: letter case never makes a second subscriber, and sub-addresses share
 * the person's limits; a stranger's sign-up changes nothing until it is confirmed; consent is an
 * append-only history; and no answer, 429 included, tells an outsider anything about an address.
 */
describe('consent and identity', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({
      TRUST_PROXY: 'true',
      RATE_LIMIT_SUBSCRIBE_IP: '3/1m',
      RATE_LIMIT_SUBSCRIBE_ADDRESS: '2/1h',
    });
  });
  afterAll(async () => t?.stop());

  const db = () => t.service.db;
  const subscribe = (email: string, options: { ip?: string; topics?: string[]; timeZone?: string } = {}) =>
    fetch(`${t.baseUrl}/subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': options.ip ?? `192.0.2.${1 + (randomBytes(1)[0]! % 250)}`, 'user-agent': 'Stranger/1.0' },
      body: JSON.stringify({ email, topics: options.topics, timeZone: options.timeZone }),
    });
  const mailIdle = () =>
    waitFor(async () => {
      const c = await t.service.queues.byName.mail.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
      return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) === 0;
    }, { what: 'mail queue idle', timeoutMs: 60_000 });
  const mailsTo = (mailbox: string) => t.sink.messages.filter((m) => m.envelopeTo.some((a) => a.toLowerCase().replace(/\+[^@]*@/, '@') === mailbox));
  const confirmPath = (text: string) => /https:\/\/papers\.example\.test(\/confirm\/[A-Za-z0-9_-]{43})/.exec(text)![1]!;
  const confirm = (path: string) => fetch(`${t.baseUrl}${path}`, { method: 'POST', headers: { 'user-agent': 'Owner/2.0' } });
  const rows = (mailbox: string) => db().selectFrom('subscribers').selectAll().where('mailbox', '=', mailbox).orderBy('id').execute();
  const history = async (id: number) => db().selectFrom('consent_events').select(['kind', 'ip', 'user_agent', 'source']).where('subscriber_id', '=', id).orderBy('id').execute();

  it('makes Dave@, dave@ and DAVE@ one subscriber (first spelling kept), and dave+x@ shares the confirmation cooldown', async () => {
    for (const email of ['Dave@Example.org', 'dave@example.org', 'DAVE@EXAMPLE.ORG', 'dave+x@example.org']) {
      expect((await subscribe(email)).status).toBe(202);
      await mailIdle();
    }
    const people = await rows('dave@example.org');
    expect(people.map((p) => p.email)).toEqual(['Dave@example.org', 'dave+x@example.org']);
    // One confirmation for the mailbox, however it was spelled.
    expect(mailsTo('dave@example.org')).toHaveLength(1);
    // The database itself refuses a second row that differs only in case.
    await expect(db().insertInto('subscribers').values({ email: 'dAvE@example.org', status: 'pending' }).execute()).rejects.toThrow(/unique|duplicate/);
  });

  it('counts the per-address budget by mailbox in the worker: case and +tags share it', async () => {
    // Budget 2 per hour: confirm twice (used tokens do not hold the cooldown), the third is not mailed.
    const spell = ['Erin@example.org', 'erin+a@example.org', 'ERIN+b@example.org'];
    for (const [i, email] of spell.entries()) {
      expect((await subscribe(email)).status).toBe(202);
      await mailIdle();
      const mails = mailsTo('erin@example.org');
      if (i < 2) {
        expect(mails).toHaveLength(i + 1);
        expect((await confirm(confirmPath(mails[i]!.parsed.text!))).status).toBe(200);
      } else {
        expect(mails).toHaveLength(2);
      }
    }
  });

  it('answers every per-address limit the same: no 429 depends on what an address did', async () => {
    const fingerprint = async (res: Response) => ({ status: res.status, body: await res.text(), retry: res.headers.get('retry-after') !== null });
    // Hammered from many IPs, a target address gets the same answer every time as a fresh one.
    const target = `target-${randomBytes(3).toString('hex')}@example.org`;
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await fingerprint(await subscribe(i % 2 ? target.toUpperCase() : target, { ip: `198.51.100.${10 + i}` })));
    const fresh = await fingerprint(await subscribe(`fresh-${randomBytes(3).toString('hex')}@example.org`, { ip: '198.51.100.99' }));
    expect(fresh.status).toBe(202);
    for (const answer of answers) expect(answer).toEqual(fresh);
    await mailIdle();
    expect(mailsTo(target)).toHaveLength(1);

    // The per-IP limit does answer 429, but identically whatever address the request names.
    const ip = '203.0.113.50';
    for (let i = 0; i < 3; i++) expect((await subscribe(`filler-${i}-${randomBytes(2).toString('hex')}@example.org`, { ip })).status).toBe(202);
    const limitedKnown = await subscribe(target, { ip });
    const limitedNew = await subscribe(`never-${randomBytes(3).toString('hex')}@example.org`, { ip });
    expect(limitedKnown.status).toBe(429);
    expect(await fingerprint(limitedKnown)).toEqual(await fingerprint(limitedNew));
  });

  it('changes nothing about an unsubscribed person when a stranger signs up with their address, until it is confirmed', async () => {
    const email = 'Frank@example.org';
    expect((await subscribe(email, { topics: ['physics'], timeZone: 'Europe/Berlin' })).status).toBe(202);
    await mailIdle();
    expect((await confirm(confirmPath(mailsTo('frank@example.org')[0]!.parsed.text!))).status).toBe(200);
    const [person] = await rows('frank@example.org');
    const unsubscribeToken = createSubscriberToken(t.config.secret, 'unsubscribe', person!.id, person!.token_version);
    expect((await fetch(`${t.baseUrl}/u/${unsubscribeToken}`, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(200);
    const before = (await rows('frank@example.org'))[0]!;
    const historyBefore = await history(before.id);
    expect(historyBefore.map((e) => e.kind)).toEqual(['subscribed', 'confirmed', 'unsubscribed']);

    // A stranger, from elsewhere, with other topics, time zone and spelling.
    await db().updateTable('confirmation_tokens').set({ created_at: new Date(Date.now() - 3600_000) }).execute();
    expect((await subscribe('FRANK@example.org', { ip: '203.0.113.77', topics: ['spam'], timeZone: 'Asia/Tokyo' })).status).toBe(202);
    await mailIdle();
    expect((await rows('frank@example.org'))[0]).toEqual(before);
    expect(await history(before.id)).toEqual(historyBefore);
    // The person is asked, at the spelling the request typed.
    const mails = mailsTo('frank@example.org');
    expect(mails).toHaveLength(2);
    expect(mails[1]!.envelopeTo).toEqual(['FRANK@example.org']);

    // Confirming is the person's yes: now the request applies, and the history says so.
    expect((await confirm(confirmPath(mails[1]!.parsed.text!))).status).toBe(200);
    const after = (await rows('frank@example.org'))[0]!;
    expect(after).toMatchObject({ status: 'active', topics: ['spam'], time_zone: 'Asia/Tokyo', email: 'FRANK@example.org' });
    const events = await history(after.id);
    expect(events.slice(3)).toEqual([
      { kind: 'subscribed', ip: '203.0.113.77', user_agent: 'Stranger/1.0', source: 'api' },
      { kind: 'confirmed', ip: '127.0.0.1', user_agent: 'Owner/2.0', source: 'confirmation link' },
    ]);
    // Append-only.
    await expect(sql`update consent_events set ip = '0.0.0.0' where subscriber_id = ${after.id}`.execute(db())).rejects.toThrow(/append-only/);
  });

  it('mails one short-lived data link on request; an expired one neither shows, exports nor erases', async () => {
    const [row] = await db().insertInto('subscribers').values({ email: 'gina@example.org', status: 'active', confirmed_at: new Date() }).returningAll().execute();
    const prefs = `/p/${createSubscriberToken(t.config.secret, 'preferences', row!.id, row!.token_version)}`;
    // Asked for twice: one mail (the second is inside the resend window).
    for (let i = 0; i < 2; i++) {
      expect((await fetch(`${t.baseUrl}${prefs}/data-link`, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
      await mailIdle();
    }
    const mails = mailsTo('gina@example.org');
    expect(mails).toHaveLength(1);
    const dataPath = /https:\/\/papers\.example\.test(\/data\/[A-Za-z0-9_-]{43})/.exec(mails[0]!.parsed.text!)![1]!;
    expect((await fetch(`${t.baseUrl}${dataPath}`)).status).toBe(200);
    await db().updateTable('data_access_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('subscriber_id', '=', row!.id).execute();
    expect((await fetch(`${t.baseUrl}${dataPath}`)).status).toBe(410);
    for (const action of ['export', 'erase']) expect((await fetch(`${t.baseUrl}${dataPath}/${action}`, { method: 'POST' })).status).toBe(410);
    expect((await rows('gina@example.org'))).toHaveLength(1);
  });
});

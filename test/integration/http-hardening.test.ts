import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createFormToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const portOf = (t: TestService) => Number(new URL(t.baseUrl).port);

/** A raw HTTP/1.1 exchange: what the server answered and whether it closed the connection. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

/**
 * Sends `bytes` one at a time, `gapMs` apart, until the server closes the connection. Resolves
 * with how many bytes went out and what the server answered.
 */
function trickle(port: number, bytes: string, gapMs: number): Promise<{ sent: number; answer: string }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let sent = 0;
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const next = () => {
      if (socket.destroyed || sent >= bytes.length) return;
      socket.write(bytes[sent++]!);
      timer = setTimeout(next, gapMs);
    };
    socket.on('connect', next);
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ sent, answer });
    });
  });
}

describe('HTTP hardening', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ REQUEST_TIMEOUT_SECONDS: '2', ALLOWED_HOSTS: 'paperboy.internal' });
  });
  afterAll(async () => t?.stop());

  describe('a first visit', () => {
    it('finds /favicon.ico and a logo that needs no emoji font', async () => {
      const icon = await fetch(`${t.baseUrl}/favicon.ico`);
      expect(icon.status).toBe(200);
      expect(icon.headers.get('content-type')).toMatch(/^image\/(x-icon|vnd\.microsoft\.icon)/);
      expect(Buffer.from(await icon.arrayBuffer()).subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0]));
      const page = await (await fetch(`${t.baseUrl}/`)).text();
      expect(page).not.toMatch(/\p{Extended_Pictographic}/u);
      const logo = /<header class="site"><a href="\/"><img src="([^"]+)"/.exec(page)?.[1];
      const svg = await fetch(`${t.baseUrl}${logo}`);
      expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    });
  });

  describe('Host allowlist (DNS rebinding)', () => {
    it('answers for PUBLIC_URL, loopback names and ALLOWED_HOSTS, and 421 for any other host', async () => {
      const port = portOf(t);
      const status = async (host: string, path = '/') => {
        const answer = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
      };
      for (const host of ['papers.example.test', 'PAPERS.example.test.', `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'paperboy.internal:8080']) {
        expect(await status(host), host).toBe(200);
      }
      for (const host of ['attacker.example', `attacker.example:${port}`, 'papers.example.test.attacker.example', '10.0.0.7', 'localhost.attacker.example']) {
        expect(await status(host), host).toBe(421);
        expect(await status(host, '/subscribe'), `${host} /subscribe`).toBe(421);
      }
      // Load balancers probe health by address.
      expect(await status('10.0.0.7:3000', '/healthz')).toBe(200);
    });
  });

  describe('media types (RFC 9110 §8.3.1)', () => {
    it('takes a JSON sign-up whatever the case and parameters of its Content-Type', { timeout: 120_000 }, async () => {
      for (const [i, type] of ['Application/JSON; charset=UTF-8', 'APPLICATION/JSON', 'application/json ; charset="utf-8"'].entries()) {
        const email = `json-${i}@example.org`;
        const res = await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': type, accept: 'Application/JSON' }, body: JSON.stringify({ email }) });
        expect(res.status, type).toBe(202);
        expect(((await res.json()) as { status: string }).status).toBe('check_your_inbox');
        // The first confirmation loads MJML in the worker: slow on a busy machine.
        await waitFor(() => t.sink.to(email).length === 1, { what: `confirmation for ${type}`, timeoutMs: 60_000 });
      }
    });

    it('takes a form sign-up whatever the case and parameters of its Content-Type', { timeout: 120_000 }, async () => {
      const email = 'form-case@example.org';
      const body = new URLSearchParams({ email, formToken: createFormToken(t.config.secret, Date.now() - 5000) }).toString();
      const res = await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; Charset=UTF-8', accept: 'text/html' }, body });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Check your inbox');
      await waitFor(() => t.sink.to(email).length === 1, { what: 'confirmation of the form sign-up', timeoutMs: 60_000 });
    });

    it('answers JSON to an Accept of any case, and pages to TEXT/HTML', async () => {
      const json = await fetch(`${t.baseUrl}/no-such-page`, { headers: { accept: 'Application/JSON' } });
      expect(json.headers.get('content-type')).toMatch(/^application\/json/);
      const html = await fetch(`${t.baseUrl}/no-such-page`, { headers: { accept: 'TEXT/HTML; q=0.9' } });
      expect(html.headers.get('content-type')).toMatch(/^text\/html/);
      const confirm = await fetch(`${t.baseUrl}/confirm/${'x'.repeat(43)}`, { method: 'POST', headers: { accept: 'Application/Json' } });
      expect(confirm.status).toBe(404);
      expect(confirm.headers.get('content-type')).toMatch(/^application\/json/);
    });
  });

  describe('same-origin check compares the whole origin of PUBLIC_URL', () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ email: 'origin@example.org' }) }).then((r) => r.status);

    it('refuses an Origin whose scheme or port differs from the site, and accepts the site itself', async () => {
      expect(await post({ origin: 'https://papers.example.test' })).toBe(202);
      expect(await post({ origin: 'http://papers.example.test' })).toBe(403);
      expect(await post({ origin: 'https://papers.example.test:8443' })).toBe(403);
      // Reached under PUBLIC_URL's name, the scheme of the hop to us does not widen what is accepted.
      expect(await post({ origin: 'http://papers.example.test', host: 'papers.example.test' })).toBe(403);
    });

    it('on a loopback address, accepts the request origin only with its own scheme', async () => {
      const port = portOf(t);
      expect(await post({ origin: `http://127.0.0.1:${port}` })).toBe(202);
      expect(await post({ origin: `https://127.0.0.1:${port}` })).toBe(403);
      expect(await post({ origin: `http://127.0.0.1:${port + 1}` })).toBe(403);
    });
  });

  describe('security headers follow the scheme of PUBLIC_URL', () => {
    it('sends HSTS and upgrade-insecure-requests for an https site', async () => {
      const res = await fetch(`${t.baseUrl}/`);
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('content-security-policy')).toContain('upgrade-insecure-requests');
    });
  });

  describe('request timeout covers the whole request', () => {
    it('cuts trickled headers at the configured timeout', { timeout: 60_000 }, async () => {
      const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(200)}\r\n\r\n`;
      // At 100 ms a byte the whole head takes ~24 s; the 2 s timeout (checked every second) ends it far sooner.
      const { sent, answer } = await trickle(portOf(t), head, 100);
      expect(sent).toBeLessThan(head.length / 2);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    });

    it('cuts a slowly sent body at the configured timeout', { timeout: 60_000 }, async () => {
      const body = JSON.stringify({ email: 'slow@example.org', topics: 'x'.repeat(180) });
      const request = `POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      const socketDone = new Promise<{ sent: number; answer: string }>((resolve) => {
        const socket = connect(portOf(t), '127.0.0.1', () => {
          socket.write(request);
          let sent = 0;
          const next = () => {
            if (socket.destroyed || sent >= body.length) return;
            socket.write(body[sent++]!);
            setTimeout(next, 100);
          };
          next();
          let answer = '';
          socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
          socket.on('close', () => resolve({ sent, answer }));
        });
        socket.on('error', () => {});
      });
      const { sent, answer } = await socketDone;
      expect(sent).toBeLessThan(body.length / 2);
      expect(answer).not.toMatch(/^HTTP\/1\.1 2/);
      expect(await t.service.db.selectFrom('subscribers').select('id').where('email', '=', 'slow@example.org').executeTakeFirst()).toBeUndefined();
    });
  });
});

describe('HTTP hardening on a plain-http site', () => {
  it('sends neither HSTS nor upgrade-insecure-requests, and production warns loudly at start', { timeout: 240_000 }, async () => {
    const lines: string[] = [];
    const capture = new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const t = await startTestService({ NODE_ENV: 'production', PUBLIC_URL: 'http://192.168.1.20:3000', LOAD_SAMPLE_DATA: 'false' }, { log: createLogger('warn', 'paperboy', capture) });
    try {
      const res = await fetch(`${t.baseUrl}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('strict-transport-security')).toBeNull();
      expect(res.headers.get('content-security-policy')).not.toContain('upgrade-insecure-requests');
      const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.includes('PUBLIC_URL is http://192.168.1.20:3000'));
      expect(warning?.level).toBe(40);
      expect(warning?.msg).toMatch(/WARNING: .*https/);
    } finally {
      await t.stop();
    }
  });
});

describe('/dev/mail', () => {
  it('is served only when the API listens on a loopback address', { timeout: 240_000 }, async () => {
    const lan = await startTestService({ SMTP_URL: '', DEV_SMTP_PORT: '0', HOST: '0.0.0.0' });
    try {
      expect((await fetch(`${lan.baseUrl}/dev/mail`)).status).toBe(404);
      expect((await fetch(`${lan.baseUrl}/dev/mail.json`)).status).toBe(404);
    } finally {
      await lan.stop();
    }
  });
});

describe('client address behind proxies', () => {
  const subscribe = (t: TestService, forwardedFor: string, email: string) =>
    fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: JSON.stringify({ email }) }).then((r) => r.status);

  it('TRUST_PROXY as proxy addresses takes the rightmost untrusted entry', { timeout: 240_000 }, async () => {
    const t = await startTestService({ TRUST_PROXY: '127.0.0.1/8, 10.0.0.0/8', RATE_LIMIT_SUBSCRIBE_IP: '2/1m' });
    try {
      // The client made up the first entry; the edge proxy (10.0.0.5) saw 198.51.100.20.
      const statuses = [];
      for (let i = 1; i <= 3; i++) statuses.push(await subscribe(t, `203.0.113.${i}, 198.51.100.20, 10.0.0.5`, `list-${i}@example.org`));
      expect(statuses).toEqual([202, 202, 429]);
      expect(await subscribe(t, '198.51.100.21, 10.0.0.5', 'list-other@example.org')).toBe(202);
    } finally {
      await t.stop();
    }
  });

  it('ignores X-Forwarded-For entries that are not addresses, whatever TRUST_PROXY is', { timeout: 240_000 }, async () => {
    for (const trust of ['true', '1', '127.0.0.1']) {
      const t = await startTestService({ TRUST_PROXY: trust, RATE_LIMIT_SUBSCRIBE_IP: '2/1m' });
      try {
        const statuses = [];
        // Each made-up value would otherwise be a fresh rate-limit key; now they all fall back to
        // the address the connection came from.
        for (let i = 1; i <= 3; i++) statuses.push(await subscribe(t, `not-an-ip-${i}`, `junk-${trust}-${i}@example.org`));
        expect(statuses, `TRUST_PROXY=${trust}`).toEqual([202, 202, 429]);
      } finally {
        await t.stop();
      }
    }
  });
});

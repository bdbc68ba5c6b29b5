import { readFileSync } from 'node:fs';
import { parseDkimKey, splitPemKeys, type DkimConfig } from '../delivery/dkim.ts';

/**
 * DKIM_PRIVATE_KEY holds one or two PEM keys (RSA ≥ 2048 bits and/or Ed25519; `\n` escapes
 * allowed), or the path of a file holding them; DKIM_SELECTOR names one selector per key.
 */
export function parseDkimSettings(
  e: { DKIM_DOMAIN?: string | undefined; DKIM_SELECTOR?: string | undefined; DKIM_PRIVATE_KEY?: string | undefined },
  mailFrom: { address: string } | undefined,
  problems: string[],
): DkimConfig | undefined {
  const given = [e.DKIM_DOMAIN, e.DKIM_SELECTOR, e.DKIM_PRIVATE_KEY].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given < 3) {
    problems.push('DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY: set all three to sign, or none');
    return undefined;
  }
  let text = e.DKIM_PRIVATE_KEY!;
  if (!text.includes('-----BEGIN')) {
    try {
      text = readFileSync(text, 'utf8');
    } catch {
      problems.push('DKIM_PRIVATE_KEY: neither a PEM key nor a readable key file');
      return undefined;
    }
  }
  const pems = splitPemKeys(text);
  const selectors = e.DKIM_SELECTOR!.split(',');
  if (pems.length === 0 || pems.length > 2) problems.push(`DKIM_PRIVATE_KEY: expected one or two PEM private keys, found ${pems.length}`);
  else if (selectors.length !== pems.length) problems.push(`DKIM_SELECTOR: ${pems.length} keys need ${pems.length} selectors (comma-separated, in key order)`);
  pems.forEach((pem, i) => {
    try {
      parseDkimKey(pem);
    } catch (error) {
      problems.push(`DKIM_PRIVATE_KEY: key ${i + 1} is ${(error as Error).message}`);
    }
  });
  const domain = e.DKIM_DOMAIN!.toLowerCase();
  const fromDomain = mailFrom?.address.slice(mailFrom.address.lastIndexOf('@') + 1).toLowerCase();
  // DMARC alignment (RFC 7489 §3.1.1, relaxed): d= must be the From domain or a parent of it.
  if (fromDomain && fromDomain !== domain && !fromDomain.endsWith(`.${domain}`)) {
    problems.push(`DKIM_DOMAIN: ${domain} does not align with the MAIL_FROM domain ${fromDomain} (it must be that domain or a parent of it)`);
  }
  return Object.freeze({ domain, keys: Object.freeze(pems.map((privateKey, i) => Object.freeze({ selector: selectors[i] ?? '', privateKey }))) });
}

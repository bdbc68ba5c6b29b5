import { readFileSync } from 'node:fs';
import path from 'node:path';

const dir = path.join(import.meta.dirname, '../fixtures/bounces');

/** A report fixture (test/fixtures/bounces/) with its placeholders filled in, CRLF line ends as on the wire. */
export function bounceFixture(
  name: string,
  values: { rcpt?: string; returnPath?: string; messageId?: string; feedbackTo?: string } = {},
): string {
  return readFileSync(path.join(dir, name), 'utf8')
    .replaceAll('{{RCPT}}', values.rcpt ?? 'reader@example.org')
    .replaceAll('{{RETURN_PATH}}', values.returnPath ?? 'bounces+bxxxx@bounces.example.test')
    .replaceAll('{{MESSAGE_ID}}', values.messageId ?? 'digest.e1.s1@papers.example.test')
    .replaceAll('{{FEEDBACK_TO}}', values.feedbackTo ?? 'bounces@bounces.example.test')
    .replace(/\r?\n/g, '\r\n');
}

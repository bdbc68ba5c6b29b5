import { loadTemplate, mjmlToHtml } from '../email/templates.ts';

/** A data link works this long: enough to open the mail, short enough that a forwarded one is dead. */
export const DATA_ACCESS_VALID_MINUTES = 60;

export async function renderDataAccessEmail(dataUrl: string): Promise<{ subject: string; html: string; text: string }> {
  const view = { dataUrl, validMinutes: DATA_ACCESS_VALID_MINUTES };
  const [mjml, text] = await Promise.all([
    loadTemplate('email/data-access.mjml.hbs'),
    loadTemplate('email/data-access.txt.hbs', { escape: false }),
  ]);
  return { subject: 'Your Paperboy data: download or erase it', html: await mjmlToHtml(mjml(view)), text: text(view) };
}

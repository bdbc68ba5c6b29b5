import { loadTemplate, mjmlToHtml } from '../email/templates.ts';

export const CONFIRMATION_VALID_HOURS = 72;

export async function renderConfirmationEmail(confirmUrl: string): Promise<{ subject: string; html: string; text: string }> {
  const view = { confirmUrl, validHours: CONFIRMATION_VALID_HOURS };
  const [mjml, text] = await Promise.all([
    loadTemplate('email/confirm.mjml.hbs'),
    loadTemplate('email/confirm.txt.hbs', { escape: false }),
  ]);
  return { subject: 'Confirm your Paperboy subscription', html: await mjmlToHtml(mjml(view)), text: text(view) };
}

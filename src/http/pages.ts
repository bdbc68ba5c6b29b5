import { loadTemplate } from '../email/templates.ts';

export interface MessagePage {
  title: string;
  heading: string;
  paragraphs: readonly string[];
  form?: { action: string; label: string; secondary?: boolean };
  links?: readonly { href: string; label: string }[];
  homeLink?: boolean;
}

/** Renders a page template inside the shared layout. Every value is HTML-escaped by Handlebars. */
export async function renderPage(template: string, title: string, data: object): Promise<string> {
  const [layout, page] = await Promise.all([loadTemplate('pages/layout.hbs'), loadTemplate(`pages/${template}.hbs`)]);
  return layout({ title, body: page(data) });
}

export function renderMessagePage(page: MessagePage): Promise<string> {
  return renderPage('message', page.title, { homeLink: false, form: null, links: [], ...page });
}

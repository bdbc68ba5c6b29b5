import { loadTemplate } from '../email/templates.ts';

export interface MessagePage {
  title: string;
  heading: string;
  paragraphs: readonly string[];
  form?: { action: string; label: string; secondary?: boolean };
  links?: readonly { href: string; label: string }[];
  homeLink?: boolean;
}

/** Open Graph / Twitter card description of a public page (absolute URLs). */
export interface PageMeta {
  title: string;
  description: string;
  url: string;
  type: 'website' | 'article';
  image: string | null;
}

/** Renders a page template inside the shared layout. Every value is HTML-escaped by Handlebars. */
export async function renderPage(template: string, title: string, data: object, meta?: PageMeta): Promise<string> {
  const [layout, page] = await Promise.all([loadTemplate('pages/layout.hbs'), loadTemplate(`pages/${template}.hbs`)]);
  return layout({ title, body: page(data), meta: meta ?? null });
}

export function renderMessagePage(page: MessagePage): Promise<string> {
  return renderPage('message', page.title, { homeLink: false, form: null, links: [], ...page });
}

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Handlebars from 'handlebars';

export const templatesFolder = path.join(import.meta.dirname, '../../templates');

/** A Handlebars instance of our own, so helpers never leak into other users of the library. */
export const handlebars = Handlebars.create();
handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);

const compiled = new Map<string, Promise<HandlebarsTemplateDelegate>>();

/**
 * Partials live in templates/partials/, named by file (`paper-card.mjml.hbs` → `{{> paper-card.mjml}}`):
 * one card per kind of output, so the digest's sections share it (and whoever adds a section does
 * not touch the card).
 */
const partialsFolder = path.join(templatesFolder, 'partials');
let partialsLoaded: Promise<void> | undefined;

function loadPartials(): Promise<void> {
  partialsLoaded ??= (async () => {
    for (const file of await readdir(partialsFolder)) {
      if (!file.endsWith('.hbs')) continue;
      handlebars.registerPartial(file.slice(0, -'.hbs'.length), await readFile(path.join(partialsFolder, file), 'utf8'));
    }
  })();
  partialsLoaded.catch(() => (partialsLoaded = undefined));
  return partialsLoaded;
}

/** Compiles a template file once per process; later calls reuse the compiled function. */
export function loadTemplate(relativePath: string, options: { escape?: boolean } = {}): Promise<HandlebarsTemplateDelegate> {
  const key = `${relativePath}:${options.escape !== false}`;
  let template = compiled.get(key);
  if (!template) {
    template = loadPartials()
      .then(() => readFile(path.join(templatesFolder, relativePath), 'utf8'))
      .then((source) => handlebars.compile(source, { noEscape: options.escape === false, strict: true }));
    compiled.set(key, template);
    template.catch(() => compiled.delete(key));
  }
  return template;
}

/**
 * MJML → HTML. Strict validation so a broken template fails loudly at render time, minified
 * without CSS minification (see stack.md §6: the nested cssnano cannot load on Node 20).
 */
export async function mjmlToHtml(source: string): Promise<string> {
  // Loaded on first use: MJML costs ~55 MB of memory, and a sender process never renders.
  const { default: mjml2html } = await import('mjml');
  const result = await mjml2html(source, {
    validationLevel: 'strict',
    minify: true,
    minifyOptions: { minifyCss: false },
    keepComments: false,
    // MJML adds a Google Fonts <link> and @import whenever a font-family names one of its default
    // web fonts (ours names Roboto): the reader's mail client would then tell a third party each
    // time a message is opened. System fonts only, no remote resources in mail.
    fonts: {},
  } as Parameters<typeof mjml2html>[1]);
  return result.html;
}

/**
 * Per-recipient values live in the pre-rendered message as `%%NAME%%` markers. Splitting once per
 * edition turns per-message assembly into an array join.
 */
export interface SplicedTemplate {
  readonly parts: readonly string[];
  readonly names: readonly string[];
}

const MARKER = /%%([A-Z_]+)%%/g;

export function splitTemplate(text: string): SplicedTemplate {
  const parts: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    parts.push(text.slice(last, match.index));
    names.push(match[1]!);
    last = match.index! + match[0].length;
  }
  parts.push(text.slice(last));
  return { parts, names };
}

export function fillTemplate(template: SplicedTemplate, values: Readonly<Record<string, string>>): string {
  let out = template.parts[0]!;
  for (let i = 0; i < template.names.length; i++) {
    const value = values[template.names[i]!];
    if (value === undefined) throw new Error(`no value for %%${template.names[i]}%%`);
    out += value + template.parts[i + 1]!;
  }
  return out;
}

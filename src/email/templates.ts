import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Handlebars from 'handlebars';
import { renderMjml } from './mjml-render.ts';
import { mjmlChildRenderer } from './mjml-renderer.ts';

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
 * MJML → HTML, the only way the code calls MJML (mjml-render.ts holds the options). In-process,
 * unless this process turned on the child renderer (mjml-renderer.ts: the worker role does), so
 * that MJML's memory is not kept by a long-lived process.
 */
export async function mjmlToHtml(source: string): Promise<string> {
  const child = mjmlChildRenderer();
  if (child) return child.render(source);
  return renderMjml(source);
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

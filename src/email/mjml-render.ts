import type mjml2html from 'mjml';

/**
 * MJML → HTML in this process: the one place MJML is called, by mjmlToHtml (templates.ts) and by
 * the renderer child process (mjml-process.ts), so both give the same HTML byte for byte.
 * Strict validation so a broken template fails loudly at render time, minified without CSS
 * minification (the cssnano that MJML nests cannot load on Node 20).
 */
export async function renderMjml(source: string): Promise<string> {
  // Loaded on first use: MJML costs ~55 MB of memory (~80 MB after a render), and a process that
  // never renders should not pay for it; V8 never unloads it once loaded (mjml-renderer.ts).
  const { default: render } = await import('mjml');
  const result = await render(source, {
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

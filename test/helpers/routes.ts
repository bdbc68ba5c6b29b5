import type { App } from '../../src/http/app.ts';

export interface ListedRoute {
  method: string;
  url: string;
  /** Not in the OpenAPI document (`schema.hide`): the console's pages and assets, the docs themselves. */
  hidden: boolean;
}

/**
 * Every route of the app (HEAD left out), read from Fastify's route tree: each line of
 * `printRoutes` is a path segment, indented four characters per level under its parent.
 */
export function listRoutes(app: App): ListedRoute[] {
  const documented = new Set<string>();
  for (const [path, operations] of Object.entries((app.swagger() as { paths?: Record<string, object> }).paths ?? {})) {
    for (const method of Object.keys(operations)) documented.add(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`);
  }
  const routes: ListedRoute[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([\s│├└─]*?)(\S+) \(([A-Z, ]+)\)$/.exec(line) ?? /^([\s│├└─]*?)(\S+)$/.exec(line);
    if (!match) continue;
    const depth = Math.floor(match[1]!.length / 4);
    stack.length = depth;
    stack[depth] = match[2]!;
    const url = stack.join('');
    for (const method of (match[3] ?? '').split(', ').filter((m) => m && m !== 'HEAD')) {
      routes.push({ method, url, hidden: !documented.has(`${method} ${url}`) });
    }
  }
  return routes;
}

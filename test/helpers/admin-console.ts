/** A signed-in console client over plain fetch: the session cookie and the form token of its pages. */
export interface ConsoleClient {
  cookie: string;
  csrf: string;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** An urlencoded form post; `_csrf` is added unless the fields already say otherwise. */
  post(path: string, fields?: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}

export const formPost = (baseUrl: string, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${baseUrl}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });

/** The `name=value` pair of the session cookie in a sign-in answer. */
export function sessionCookieOf(response: Response): string {
  const setCookie = response.headers.getSetCookie().find((c) => c.includes('paperboy-admin='));
  if (!setCookie) throw new Error(`no session cookie in the answer (status ${response.status})`);
  return setCookie.split(';')[0]!;
}

export const csrfOf = (html: string) => {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('no _csrf field on the page');
  return match[1]!;
};

export async function signIn(baseUrl: string, token: string): Promise<ConsoleClient> {
  const answer = await formPost(baseUrl, '/admin/sign-in', { token });
  if (answer.status !== 303) throw new Error(`sign-in answered ${answer.status}`);
  const cookie = sessionCookieOf(answer);
  const home = await fetch(`${baseUrl}/admin`, { headers: { cookie } });
  const csrf = csrfOf(await home.text());
  return {
    cookie,
    csrf,
    get: (path, headers = {}) => fetch(`${baseUrl}${path}`, { redirect: 'manual', headers: { cookie, ...headers } }),
    post: (path, fields = {}, headers = {}) => formPost(baseUrl, path, { _csrf: csrf, ...fields }, { cookie, ...headers }),
  };
}

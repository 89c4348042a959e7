import type { Response } from 'express';
import { type Html, html } from './html.ts';

/**
 * The frame of every page of the authorization server: lang, a title, one h1, a main landmark
 * tagged with the page's name (data-page, used by tests), and a small stylesheet from our own
 * origin. No script at all: the pages work without JavaScript.
 *
 * CSP (https://www.w3.org/TR/CSP3/): nothing but our stylesheet and our own forms. A form that
 * can end in a redirect to the client's redirect_uri also allows that origin in form-action,
 * since browsers apply form-action to the redirects that follow a submission.
 */
export interface PageOptions {
  /** Page name for data-page, e.g. 'login'. */
  page: string;
  title: string;
  status?: number;
  /** Origins a form submission may redirect to (the client's redirect_uri origin). */
  formTargets?: string[];
  body: Html;
}

export const STYLESHEET_PATH = '/auth/static/auth.css';

export function sendPage(res: Response, o: PageOptions): void {
  const formAction = ["'self'", ...new Set(o.formTargets ?? [])].join(' ');
  res.set(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`
  );
  res.set('Cache-Control', 'no-store');
  res.status(o.status ?? 200).type('html').send(
    html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} – Sign in</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main data-page="${o.page}">
${o.body}
</main>
</body>
</html>
`.value
  );
}

/** Error message for a form: announced (role=alert) and tied to its inputs by aria-describedby. */
export const ERROR_ID = 'form-error';
export function errorBlock(message: string | undefined): Html {
  return message ? html`<p id="${ERROR_ID}" class="error" role="alert">${message}</p>` : html``;
}

/** Attributes for an input the error message describes. */
export function described(message: string | undefined): Html {
  return message ? html` aria-describedby="${ERROR_ID}" aria-invalid="true"` : html``;
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/**
 * Colours meet WCAG 2.1 AA contrast (text #1a1a1a on #fff, 17:1; links and buttons #0b4f8a
 * on #fff / #fff on #0b4f8a, 8.6:1; error #a4001c, 7.9:1); focus is always visible (WCAG 2.4.7).
 */
export const STYLESHEET = `
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff}
main{max-width:34rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem}
label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password],input[type=search],textarea{display:block;width:100%;padding:.5rem;font:inherit;border:2px solid #555;border-radius:4px}
button{margin-top:1rem;margin-right:.5rem;padding:.5rem 1rem;font:inherit;color:#fff;background:#0b4f8a;border:2px solid #0b4f8a;border-radius:4px;cursor:pointer}
button.secondary{color:#0b4f8a;background:#fff}
a{color:#0b4f8a}
:focus-visible{outline:3px solid #c25e00;outline-offset:2px}
.error{color:#a4001c;font-weight:600;border-left:4px solid #a4001c;padding-left:.5rem}
code,.codes{font-family:ui-monospace,monospace;font-size:1.05rem;word-break:break-all}
ul.choices{list-style:none;padding:0}
ul.choices li{margin:.5rem 0}
fieldset{border:1px solid #555;border-radius:4px;margin-top:1rem}
`;

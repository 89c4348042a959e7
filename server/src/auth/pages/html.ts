import { escapeHtml } from '../../html-escape.ts';

/**
 * HTML escaping for server-rendered pages (OWASP XSS Prevention Cheat Sheet, rule 1 and 2):
 * every value placed in text or a quoted attribute goes through `esc`. Templates are tagged with
 * `html`, which escapes every interpolation unless it is already `Html` (a rendered fragment).
 */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export const esc = escapeHtml;

type Part = Html | string | number | undefined | null | false | Part[];

function render(part: Part): string {
  if (part === undefined || part === null || part === false) return '';
  if (Array.isArray(part)) return part.map(render).join('');
  if (part instanceof Html) return part.value;
  return esc(part);
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Html(out);
}

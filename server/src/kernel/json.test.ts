import { expect, test, vi } from 'vitest';
import { carryDecimals, parseJson, parseStored, stringifyJson, stringifyStored } from './json.ts';

test('every number literal comes back as written, in objects and arrays', () => {
  const literals = ['12.50', '1.000', '0.10', '-0', '-0.0', '1e5', '1.5E-7', '0.0000001', '123456789012345678901234567890', '9999999999999999', '0.1000000000000000055', '12.5', '100', '0', '-3', '1.05'];
  // Random literals too: whatever the fast path's pattern misses would come back changed.
  let x = 1;
  const digits = (n: number) => Array.from({ length: n }, () => ((x = (x * 48271) % 2147483647), String(x % 10))).join('');
  for (let i = 0; i < 2000; i++) {
    const int = String(Number(digits(1 + (x % 20))));
    const frac = x % 3 === 0 ? '' : `.${digits(1 + (x % 18))}`;
    const exp = x % 7 === 0 ? `e${(x % 40) - 20}` : '';
    literals.push(`${x % 2 ? '-' : ''}${int}${frac}${exp}`);
  }
  for (const lit of literals) {
    for (const text of [`{"v":${lit}}`, `[${lit}]`, `{"a":[{"b":${lit} }]}`]) {
      const parsed = parseJson(text);
      expect(stringifyJson(parsed).replace(/ /g, '')).toBe(text.replace(/ /g, ''));
    }
  }
});

test('readers get numbers; a changed number is written as the new value', () => {
  const o = parseJson('{"value":12.50,"n":[1.0,2]}') as { value: number; n: number[] };
  expect(o.value).toBe(12.5);
  expect(o.n).toEqual([1, 2]);
  o.value = 13;
  expect(stringifyJson(o)).toBe('{"value":13,"n":[1.0,2]}');
});

test('a copy gets the texts back where its numbers are unchanged', () => {
  const o = parseJson('{"q":{"value":12.50},"r":[0.10,2.0]}') as Record<string, any>;
  const copy = structuredClone(o);
  copy.r[1] = 3;
  expect(stringifyJson(copy)).toBe('{"q":{"value":12.5},"r":[0.1,3]}');
  carryDecimals(o, copy);
  expect(stringifyJson(copy)).toBe('{"q":{"value":12.50},"r":[0.10,3]}');
});

test('a stored resource answered unchanged is sent as its stored text, inside a Bundle too', () => {
  const text = stringifyJson(parseJson('{"resourceType":"Observation","id":"o1","valueQuantity":{"value":12.50},"note":[{"text":"a \\"quoted\\" \\u0000 word"}]}'));
  const r = parseStored(text);
  expect(stringifyStored(r)).toBe(text);
  const bundle = { resourceType: 'Bundle', type: 'searchset', total: 1.5, entry: [{ fullUrl: 'x', resource: r, search: { mode: 'match' } }, { resource: parseStored(text) }] };
  expect(stringifyStored(bundle)).toBe(stringifyJson(bundle));
  expect(JSON.parse(stringifyStored(bundle))).toEqual(JSON.parse(stringifyJson(bundle)));
  // A copy made for the answer (a notice, a subset) is not stored: written from the object.
  const copy = { ...(r as object), id: 'o2' };
  expect(stringifyStored(copy)).toBe(stringifyJson(copy));
});

test('a string that holds the placeholder of a stored text is written as it is', () => {
  const stored = parseStored('{"resourceType":"Basic","id":"b"}');
  // The placeholder is random per process: read it off the replacer stringifyStored passes.
  let marker = '';
  const spy = vi.spyOn(JSON, 'stringify').mockImplementationOnce(function (this: unknown, value: unknown, replacer?: unknown) {
    marker = (replacer as (k: string, v: unknown) => string).call({}, 'k', stored);
    return '';
  });
  stringifyStored({ probe: stored });
  spy.mockRestore();
  expect(marker).toMatch(/^\u0000/);
  for (const s of [marker, marker.replace(/\d+$/, '1'), marker.slice(0, -1)]) {
    const body = { resourceType: 'Bundle', entry: [{ resource: stored }, { resource: { resourceType: 'Basic', id: s } }] };
    expect(stringifyStored(body)).toBe(stringifyJson(body));
  }
});

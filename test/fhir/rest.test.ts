import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestServer, startTestServer } from '../support/server.ts';

// The REST interactions of https://hl7.org/fhir/R4/http.html over real HTTP and a real database.
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

async function create(resource: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await s.fhir(String(resource.resourceType), { method: 'POST', json: resource, headers });
  return { res, body: await res.json() };
}

describe('create, read, vread', () => {
  test('create assigns id, version 1, lastUpdated, and answers 201 with Location and ETag', async () => {
    const { res, body } = await create({ resourceType: 'Patient', name: [{ family: 'Alvarez' }], id: 'client-chosen' });
    expect(res.status).toBe(201);
    expect(body.id).not.toBe('client-chosen'); // create ignores a client id (R4 http.html#create)
    expect(body.meta.versionId).toBe('1');
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(res.headers.get('location')).toBe(`${s.fhirBase}/Patient/${body.id}/_history/1`);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);

    const read = await s.fhir(`Patient/${body.id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('last-modified')).toBe(new Date(body.meta.lastUpdated).toUTCString());
    expect((await read.json()).name[0].family).toBe('Alvarez');
  });

  test('If-None-Match with the current ETag gives 304; an old one gives the resource', async () => {
    const { body } = await create({ resourceType: 'Patient', gender: 'female' });
    expect((await s.fhir(`Patient/${body.id}`, { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(304);
    await s.fhir(`Patient/${body.id}`, { method: 'PUT', json: { ...body, gender: 'male' } });
    expect((await s.fhir(`Patient/${body.id}`, { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(200);
  });

  test('vread returns each version as it was', async () => {
    const { body } = await create({ resourceType: 'Patient', gender: 'female' });
    await s.fhir(`Patient/${body.id}`, { method: 'PUT', json: { ...body, gender: 'male' } });
    expect((await (await s.fhir(`Patient/${body.id}/_history/1`)).json()).gender).toBe('female');
    expect((await (await s.fhir(`Patient/${body.id}/_history/2`)).json()).gender).toBe('male');
    expect((await s.fhir(`Patient/${body.id}/_history/3`)).status).toBe(404);
  });

  test('unknown id is 404 with an OperationOutcome naming it', async () => {
    const res = await s.fhir('Patient/does-not-exist');
    expect(res.status).toBe(404);
    const o = await res.json();
    expect(o.resourceType).toBe('OperationOutcome');
    expect(o.issue[0].diagnostics).toContain('Patient/does-not-exist');
  });

  test('_summary and _elements subset a read and mark it SUBSETTED', async () => {
    const { body } = await create({ resourceType: 'Patient', gender: 'female', birthDate: '1990-01-01', name: [{ family: 'Sub' }] });
    const el = await (await s.fhir(`Patient/${body.id}?_elements=gender`)).json();
    expect(el.gender).toBe('female');
    expect(el.birthDate).toBeUndefined();
    expect(el.meta.tag.some((t: { code: string }) => t.code === 'SUBSETTED')).toBe(true);
  });

  test('_pretty indents; _format=xml is refused with 406', async () => {
    const { body } = await create({ resourceType: 'Patient' });
    const text = await (await s.fhir(`Patient/${body.id}?_pretty=true`)).text();
    expect(text).toContain('\n  "resourceType"');
    const xml = await s.fhir(`Patient/${body.id}?_format=xml`);
    expect(xml.status).toBe(406);
  });
});

describe('update, patch, delete', () => {
  test('update with If-Match: current version succeeds, stale version is 412 and changes nothing', async () => {
    const { body } = await create({ resourceType: 'Patient', gender: 'female' });
    const ok = await s.fhir(`Patient/${body.id}`, { method: 'PUT', json: { ...body, gender: 'male' }, headers: { 'if-match': 'W/"1"' } });
    expect(ok.status).toBe(200);
    expect((await ok.json()).meta.versionId).toBe('2');
    const stale = await s.fhir(`Patient/${body.id}`, { method: 'PUT', json: { ...body, gender: 'other' }, headers: { 'if-match': 'W/"1"' } });
    expect(stale.status).toBe(412);
    expect((await stale.json()).issue[0].diagnostics).toMatch(/If-Match/);
    expect((await (await s.fhir(`Patient/${body.id}`)).json()).gender).toBe('male');
  });

  test('update as create with a client id answers 201; id mismatch is 400', async () => {
    const put = await s.fhir('Patient/my-own-id-1', { method: 'PUT', json: { resourceType: 'Patient', id: 'my-own-id-1' } });
    expect(put.status).toBe(201);
    const mismatch = await s.fhir('Patient/my-own-id-1', { method: 'PUT', json: { resourceType: 'Patient', id: 'other' } });
    expect(mismatch.status).toBe(400);
    expect((await mismatch.json()).issue[0].diagnostics).toMatch(/id/i);
  });

  test('concurrent updates never lose a write: 10 parallel PUTs make 10 versions', async () => {
    const { body } = await create({ resourceType: 'Patient' });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.fhir(`Patient/${body.id}`, { method: 'PUT', json: { ...body, birthDate: `20${10 + i}-01-01` } }))
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const history = await (await s.fhir(`Patient/${body.id}/_history?_count=100`)).json();
    expect(history.entry).toHaveLength(11);
    const versions = history.entry.map((e: { resource: { meta: { versionId: string } } }) => Number(e.resource.meta.versionId));
    expect(new Set(versions).size).toBe(11);
  });

  test('JSON Patch and FHIRPath Patch', async () => {
    const { body } = await create({ resourceType: 'Patient', gender: 'female', name: [{ family: 'Patch' }] });
    const jp = await s.fhir(`Patient/${body.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'male' }]),
    });
    expect(jp.status).toBe(200);
    expect((await jp.json()).gender).toBe('male');
    // FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): add an absent element, replace a present one.
    const operation = (parts: Record<string, unknown>[]) => ({ resourceType: 'Parameters', parameter: [{ name: 'operation', part: parts }] });
    const add = await s.fhir(`Patient/${body.id}`, {
      method: 'PATCH',
      json: operation([
        { name: 'type', valueCode: 'add' },
        { name: 'path', valueString: 'Patient' },
        { name: 'name', valueString: 'birthDate' },
        { name: 'value', valueDate: '1999-09-09' },
      ]),
    });
    expect(add.status).toBe(200);
    const replace = await s.fhir(`Patient/${body.id}`, {
      method: 'PATCH',
      json: operation([
        { name: 'type', valueCode: 'replace' },
        { name: 'path', valueString: 'Patient.gender' },
        { name: 'value', valueCode: 'female' },
      ]),
    });
    expect(replace.status).toBe(200);
    expect((await replace.json()).meta.versionId).toBe('4');
    expect((await (await s.fhir(`Patient/${body.id}`)).json()).gender).toBe('female');
    expect((await (await s.fhir(`Patient/${body.id}`)).json()).birthDate).toBe('1999-09-09');
  });

  test('delete leaves a tombstone: read is 410, history keeps every version', async () => {
    const { body } = await create({ resourceType: 'Patient' });
    expect((await s.fhir(`Patient/${body.id}`, { method: 'DELETE' })).status).toBe(200);
    const read = await s.fhir(`Patient/${body.id}`);
    expect(read.status).toBe(410);
    const h = await (await s.fhir(`Patient/${body.id}/_history`)).json();
    expect(h.entry).toHaveLength(2);
    expect(h.entry[0].request.method).toBe('DELETE');
    expect(h.entry[0].resource).toBeUndefined();
    expect(h.entry[1].resource.id).toBe(body.id);
  });

  test('Prefer: return=minimal and return=OperationOutcome', async () => {
    const min = await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' }, headers: { prefer: 'return=minimal' } });
    expect(min.status).toBe(201);
    expect(await min.text()).toBe('');
    expect(min.headers.get('location')).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
    const oo = await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient' }, headers: { prefer: 'return=OperationOutcome' } });
    expect((await oo.json()).resourceType).toBe('OperationOutcome');
  });
});

describe('conditional interactions', () => {
  const ident = (v: string) => ({ resourceType: 'Patient', identifier: [{ system: 'urn:test:mrn', value: v }] });

  test('conditional create: no match creates, one match returns it, two matches 412', async () => {
    const first = await create(ident('C-1'), { 'if-none-exist': 'identifier=urn:test:mrn|C-1' });
    expect(first.res.status).toBe(201);
    const again = await create(ident('C-1'), { 'if-none-exist': 'identifier=urn:test:mrn|C-1' });
    expect(again.res.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    await create(ident('C-2'));
    await create(ident('C-2'));
    const many = await create(ident('C-2'), { 'if-none-exist': 'identifier=urn:test:mrn|C-2' });
    expect(many.res.status).toBe(412);
  });

  test('conditional update and conditional delete', async () => {
    const up = await s.fhir('Patient?identifier=urn:test:mrn|U-1', { method: 'PUT', json: { ...ident('U-1'), gender: 'female' } });
    expect(up.status).toBe(201);
    const id = (await up.json()).id;
    const up2 = await s.fhir('Patient?identifier=urn:test:mrn|U-1', { method: 'PUT', json: { ...ident('U-1'), gender: 'male' } });
    expect(up2.status).toBe(200);
    expect((await up2.json()).id).toBe(id);
    expect((await s.fhir('Patient?identifier=urn:test:mrn|U-1', { method: 'DELETE' })).status).toBe(200);
    expect((await s.fhir(`Patient/${id}`)).status).toBe(410);
  });

  test('conditional patch', async () => {
    await create(ident('P-1'));
    const res = await s.fhir('Patient?identifier=urn:test:mrn|P-1', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'add', path: '/gender', value: 'other' }]),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).gender).toBe('other');
  });
});

describe('bad input gets a clear OperationOutcome and changes nothing', () => {
  async function expectOutcome(res: Response, status: number, match: RegExp) {
    expect(res.status).toBe(status);
    const o = await res.json();
    expect(o.resourceType).toBe('OperationOutcome');
    const text = JSON.stringify(o);
    expect(text).toMatch(match);
    expect(text).not.toMatch(/at .*\.ts:\d+|SELECT |INSERT |node_modules/);
  }

  test('malformed JSON', async () => {
    await expectOutcome(await s.fhir('Patient', { method: 'POST', body: '{"resourceType": "Patient",', headers: { 'content-type': 'application/fhir+json' } }), 400, /not valid JSON/);
  });
  test('wrong content type', async () => {
    await expectOutcome(await s.fhir('Patient', { method: 'POST', body: '<Patient/>', headers: { 'content-type': 'application/xml' } }), 415, /Content-Type/);
  });
  test('unknown resource type', async () => {
    await expectOutcome(await s.fhir('Patientt'), 404, /Unknown resource type 'Patientt'/);
    await expectOutcome(await s.fhir('Patientt', { method: 'POST', json: { resourceType: 'Patientt' } }), 400, /Patientt/);
  });
  test('invalid resource names the element path', async () => {
    await expectOutcome(await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient', birthDate: 'yesterday' } }), 400, /Patient\.birthDate/);
    await expectOutcome(await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Patient', foo: 1 } }), 400, /Patient\.foo/);
  });
  test('resource type in body must match the URL', async () => {
    await expectOutcome(await s.fhir('Patient', { method: 'POST', json: { resourceType: 'Observation' } }), 400, /Observation/);
  });
  test('body too large is 413', async () => {
    const big = { resourceType: 'Patient', name: [{ text: 'x'.repeat(17 * 1024 * 1024) }] };
    await expectOutcome(await s.fhir('Patient', { method: 'POST', json: big }), 413, /larger/);
  });
  test('unknown search parameter is 400, ignored with Prefer: handling=lenient', async () => {
    await expectOutcome(await s.fhir('Patient?colour=blue'), 400, /colour/);
    const lenient = await s.fhir('Patient?colour=blue', { headers: { prefer: 'handling=lenient' } });
    expect(lenient.status).toBe(200);
  });
  test('no token is 401 with WWW-Authenticate; /metadata is public', async () => {
    const res = await fetch(`${s.fhirBase}/Patient`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await res.json()).resourceType).toBe('OperationOutcome');
    expect((await fetch(`${s.fhirBase}/metadata`)).status).toBe(200);
  });
});

describe('search by POST', () => {
  test('POST [type]/_search with a form body finds what GET finds', async () => {
    await create({ resourceType: 'Patient', name: [{ family: 'Postsearch' }], gender: 'female' });
    await create({ resourceType: 'Patient', name: [{ family: 'Postsearch' }], gender: 'male' });
    const res = await s.fhir('Patient/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'family=postsearch&gender=female',
    });
    expect(res.status).toBe(200);
    const b = await res.json();
    expect(b.entry.map((e: { resource: { gender: string } }) => e.resource.gender)).toEqual(['female']);
    const get = await (await s.fhir('Patient?family=postsearch&gender=female')).json();
    expect(get.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(b.entry.map((e: { resource: { id: string } }) => e.resource.id));
  });
});

describe('history at type and system level', () => {
  test('type history lists versions newest first with _since and _count paging', async () => {
    const before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create({ resourceType: 'Device', status: 'active' })).body.id);
    const page1 = await (await s.fhir(`Device/_history?_since=${before}&_count=3`)).json();
    expect(page1.type).toBe('history');
    expect(page1.entry).toHaveLength(3);
    expect(page1.entry[0].resource.id).toBe(ids[4]);
    const next = page1.link.find((l: { relation: string }) => l.relation === 'next').url;
    // A write after page 1 must not shift page 2.
    await create({ resourceType: 'Device', status: 'inactive' });
    const page2 = await (await s.fhir(next)).json();
    expect(page2.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([ids[1], ids[0]]);
    const sys = await (await s.fhir(`_history?_since=${before}&_count=50`)).json();
    expect(sys.entry.length).toBe(6);
  });
});

describe('metadata', () => {
  test('CapabilityStatement lists interactions, search params and operations', async () => {
    const cs = await (await fetch(`${s.fhirBase}/metadata`)).json();
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    const obs = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Observation');
    expect(obs.interaction.map((i: { code: string }) => i.code)).toEqual(
      expect.arrayContaining(['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'])
    );
    expect(obs.searchParam.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['code', 'date', 'code-value-quantity', 'patient']));
    expect(cs.rest[0].interaction.map((i: { code: string }) => i.code)).toEqual(expect.arrayContaining(['transaction', 'batch', 'search-system', 'history-system']));
  });
});

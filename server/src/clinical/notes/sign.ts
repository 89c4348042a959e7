import type { Bundle, Coding, Composition, DocumentReference, Practitioner, Provenance, Reference } from '@medplum/fhirtypes';
import { fail } from '../../kernel/outcome.ts';
import type { Repository } from '../../store/repository.ts';
import { canonicalJson } from './canonical-json.ts';
import { AUTHOR_SIGNATURE, CONFIDENTIALITY, PARTICIPANT_TYPE, VERIFICATION_SIGNATURE } from './note-codes.ts';
import { allowSignatureWrite, isSigned } from './note-hook.ts';
import { renderNoteHtml } from './render.ts';
import { type SigningKeys, signJws, signingKeysFor } from './signing-keys.ts';

/**
 * Signing and countersigning a note, each in one transaction:
 *
 * $sign (author): status → final, attester { mode: legal, time, party: author }; a Provenance
 * whose target is the signed Composition version, agent type author, and signature type
 * 1.2.840.10065.1.12.1.1 "Author's Signature" (urn:iso-astm:E1762-95:2013) with sigFormat
 * application/jose and data = base64 of a compact JWS whose payload is the canonical JSON
 * (./canonical-json.ts) of that exact version, signed with the server's key (verifiable with
 * /auth/jwks); and a DocumentReference rendering the note as text/html, carrying its security
 * labels, for the visit (context.encounter).
 *
 * $countersign (supervisor): the note must be signed; attester { mode: professional } is added
 * (R4 composition-attestation-mode "professional": attested in a professional capacity, i.e. the
 * supervising clinician's review, as distinct from the author's legal signature), and a second
 * Provenance with signature type 1.2.840.10065.1.12.1.5 "Verification Signature" and agent type
 * verifier (provenance-participant-type).
 *
 * The signer is the caller's fhirUser; the demo seeding, which runs with a tenant-admin policy,
 * passes `signer` explicitly (role checks then rest with the caller).
 *
 * Signing changes the note, so the caller needs what an update of it needs (Repository
 * `readForUpdate`: the Composition update permission of their scopes and role, the note visible
 * and within their reach) before the server writes the signed version, the Provenance and the
 * rendering with tenant-wide access (`Repository.asServer`): a read-only token cannot sign.
 */
export interface SignOptions {
  /** 'Practitioner/x': who signs, when the repository's policy carries no person (seeding). */
  signer?: string;
  /** Signing keys, when the server did not register its own (CLI seeding). */
  keys?: SigningKeys;
}

export interface SignResult {
  composition: Composition;
  provenance: Provenance;
  documentReference?: DocumentReference;
}

export async function signComposition(repo: Repository, compositionId: string, options: SignOptions = {}): Promise<SignResult> {
  const signer = options.signer ?? repo.ctx.access.context.fhirUser;
  if (!signer) fail('forbidden', 'Only a person can sign a note: the token names no fhirUser');
  const keys = signingKeysFor(repo.ctx.fhirBase, options.keys);
  return repo.withTransaction(async (tx) => {
    const note = await tx.readForUpdate<Composition>('Composition', compositionId);
    if (!(note.author ?? []).some((a) => a.reference === signer)) {
      fail('forbidden', `Only the note's author may sign it; ${signer} is not in Composition.author`, 'Composition.author');
    }
    if (isSigned(note)) fail('conflict', `Composition/${compositionId} is already signed`, 'Composition.status');
    if (note.status === 'entered-in-error') fail('conflict', `Composition/${compositionId} was entered in error and cannot be signed`, 'Composition.status');
    const now = new Date().toISOString();
    const party = { reference: signer } as Reference<Practitioner>;
    const sys = await tx.asServer({ reason: 'note signature' });
    const signed = await sys.updateResource<Composition>(
      allowSignatureWrite({ ...note, status: 'final', attester: [...(note.attester ?? []), { mode: 'legal', time: now, party }] }),
      { ifMatch: note.meta?.versionId }
    );
    const provenance = await sys.createResource<Provenance>(
      await provenanceFor(keys, signed, party, now, 'author', AUTHOR_SIGNATURE)
    );
    const documentReference = await sys.createResource<DocumentReference>(withoutUndefined(renderingOf(signed, signer, now)));
    await sys.flush();
    return { composition: signed, provenance, documentReference };
  });
}

export async function countersignComposition(repo: Repository, compositionId: string, options: SignOptions = {}): Promise<SignResult> {
  const ctx = repo.ctx.access.context;
  const signer = options.signer ?? ctx.fhirUser;
  if (!signer) fail('forbidden', 'Only a person can countersign a note: the token names no fhirUser');
  if (!options.signer && !ctx.roles?.includes('supervisor')) fail('forbidden', 'Only a supervisor may countersign a note');
  const keys = signingKeysFor(repo.ctx.fhirBase, options.keys);
  return repo.withTransaction(async (tx) => {
    const note = await tx.readForUpdate<Composition>('Composition', compositionId);
    if (!isSigned(note)) fail('conflict', `Composition/${compositionId} is not signed by its author yet; it can be countersigned once signed`, 'Composition.status');
    if ((note.author ?? []).some((a) => a.reference === signer)) {
      fail('forbidden', 'A note is countersigned by someone other than its author', 'Composition.author');
    }
    if ((note.attester ?? []).some((a) => a.mode === 'professional' && a.party?.reference === signer)) {
      fail('conflict', `Composition/${compositionId} is already countersigned by ${signer}`, 'Composition.attester');
    }
    const now = new Date().toISOString();
    const party = { reference: signer } as Reference<Practitioner>;
    const sys = await tx.asServer({ reason: 'note countersignature' });
    const countersigned = await sys.updateResource<Composition>(
      allowSignatureWrite({ ...note, attester: [...(note.attester ?? []), { mode: 'professional', time: now, party }] }),
      { ifMatch: note.meta?.versionId }
    );
    const provenance = await sys.createResource<Provenance>(
      await provenanceFor(keys, countersigned, party, now, 'verifier', VERIFICATION_SIGNATURE)
    );
    await sys.flush();
    return { composition: countersigned, provenance };
  });
}

/** The Provenance of one signature over one Composition version (https://hl7.org/fhir/R4/provenance.html, Signature datatype). */
async function provenanceFor(
  keys: SigningKeys,
  version: Composition,
  who: Reference<Practitioner>,
  when: string,
  agentType: 'author' | 'verifier',
  signatureType: Coding
): Promise<Provenance> {
  const jws = await signJws(keys, canonicalJson(version));
  return {
    resourceType: 'Provenance',
    target: [{ reference: `Composition/${version.id}/_history/${version.meta?.versionId}` }],
    recorded: when,
    agent: [{ type: { coding: [{ system: PARTICIPANT_TYPE, code: agentType }] }, who }],
    signature: [
      {
        type: [signatureType],
        when,
        who,
        targetFormat: 'application/fhir+json',
        sigFormat: 'application/jose',
        data: Buffer.from(jws, 'utf8').toString('base64'),
      },
    ],
  };
}

/** The signed note as a text/html DocumentReference, carrying the note's security labels. */
function renderingOf(note: Composition, signer: string, when: string): DocumentReference {
  const html = renderNoteHtml(note, signer, when);
  const security = note.meta?.security ?? [];
  const confidentiality = note.confidentiality ? [{ system: CONFIDENTIALITY, code: note.confidentiality }] : [];
  const labels = [...security, ...confidentiality.filter((c) => !security.some((s) => s.system === c.system && s.code === c.code))];
  return {
    resourceType: 'DocumentReference',
    ...(labels.length ? { meta: { security: labels } } : {}),
    status: 'current',
    docStatus: 'final',
    type: note.type,
    category: note.category,
    subject: note.subject as DocumentReference['subject'],
    date: when,
    author: note.author,
    authenticator: { reference: signer },
    custodian: note.custodian,
    description: note.title,
    ...(labels.length ? { securityLabel: labels.map((l) => ({ coding: [l] })) } : {}),
    content: [{ attachment: { contentType: 'text/html', data: Buffer.from(html, 'utf8').toString('base64'), title: note.title, creation: when } }],
    context: {
      ...(note.encounter ? { encounter: [note.encounter] } : {}),
      related: [{ reference: `Composition/${note.id}/_history/${note.meta?.versionId}` }],
    },
  };
}

function withoutUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The written resources as a collection Bundle (the operations' response body). */
export function resultBundle(r: SignResult): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [r.composition, r.provenance, r.documentReference].filter((x) => x !== undefined).map((resource) => ({ resource })),
  };
}

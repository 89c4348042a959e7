import type { MedplumClient } from '@medplum/core';
import type { Bundle, CarePlan, CareTeam, Organization, Practitioner, Resource } from '@medplum/fhirtypes';
import { personName } from '../../shared/names.ts';

/**
 * The choices offered for `$mbc-cohort`'s filters, read with the clinician's own token, so each
 * list holds what that clinician may see: programs of the care plans they can search (CarePlan
 * category in the platform's program system), payers (Organizations of type `pay`), and the
 * practitioners on the care teams they can search.
 */
export const PROGRAM_SYSTEM = 'http://bh-fhir.org/fhir/CodeSystem/program';
const ORGANIZATION_TYPE = 'http://terminology.hl7.org/CodeSystem/organization-type';

export interface Choice {
  /** The value sent to $mbc-cohort (`system|code`, `Organization/x`, `Practitioner/x`). */
  value: string;
  label: string;
}

export interface FilterChoices {
  programs: Choice[];
  payers: Choice[];
  practitioners: Choice[];
}

/** Every page of a search (bounded: these are short lists of a clinic's reference data). */
async function searchAll<T extends Resource>(medplum: MedplumClient, type: string, params: Record<string, string>): Promise<T[]> {
  const out: T[] = [];
  let bundle: Bundle = await medplum.search(type as 'Patient', { ...params, _count: '1000' });
  for (let page = 0; page < 20; page++) {
    out.push(...((bundle.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === type) as T[]));
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    bundle = (await medplum.get(next)) as Bundle;
  }
  return out;
}

const byLabel = (a: Choice, b: Choice) => a.label.localeCompare(b.label);

export async function loadFilterChoices(medplum: MedplumClient): Promise<FilterChoices> {
  const [plans, payers, teams] = await Promise.all([
    searchAll<CarePlan>(medplum, 'CarePlan', { _elements: 'category' }),
    searchAll<Organization>(medplum, 'Organization', { type: `${ORGANIZATION_TYPE}|pay`, _elements: 'name' }),
    searchAll<CareTeam>(medplum, 'CareTeam', { status: 'active', _elements: 'participant' }),
  ]);

  const programs = new Map<string, Choice>();
  for (const plan of plans) {
    for (const c of plan.category?.flatMap((x) => x.coding ?? []) ?? []) {
      if (c.system !== PROGRAM_SYSTEM || !c.code) continue;
      programs.set(c.code, { value: `${c.system}|${c.code}`, label: c.display ?? c.code });
    }
  }

  const memberIds = new Set<string>();
  for (const team of teams) {
    for (const p of team.participant ?? []) {
      const m = /^Practitioner\/([^/]+)$/.exec(p.member?.reference ?? '');
      if (m) memberIds.add(m[1]);
    }
  }
  const practitioners: Practitioner[] = [];
  const ids = [...memberIds];
  for (let i = 0; i < ids.length; i += 100) {
    practitioners.push(...(await searchAll<Practitioner>(medplum, 'Practitioner', { _id: ids.slice(i, i + 100).join(',') })));
  }

  return {
    programs: [...programs.values()].sort(byLabel),
    payers: payers.filter((o) => o.id).map((o) => ({ value: `Organization/${o.id}`, label: o.name ?? 'Unnamed payer' })).sort(byLabel),
    practitioners: practitioners.filter((p) => p.id).map((p) => ({ value: `Practitioner/${p.id}`, label: personName(p.name) })).sort(byLabel),
  };
}

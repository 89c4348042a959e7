import type { Resource } from '@medplum/fhirtypes';
import { DISCLOSED_ENTITY_CAP, type DisclosedFile, type DisclosedResource } from '../audit/disclosure.ts';
import { addPatientsOf } from '../audit/patients.ts';

/**
 * What an export file discloses, tallied page by page while the job writes it (./run.ts), for a
 * requester whose reads are disclosures (access/accounting.ts `isDisclosure`). Each download of
 * the file by that requester is then recorded from the tally (fhir/bulk-export.ts,
 * audit/fhir-audit.ts) without reading the file again.
 *
 * Resources are named up to DISCLOSED_ENTITY_CAP (the cap of one disclosure AuditEvent, as on the
 * REST path, audit/disclosure.ts); past it they are counted. Every patient is kept, so each
 * patient whose data the file carries is named. Memory: one id per patient of the file, plus the
 * capped list. The tally is saved with the job's output at every save of the resume point, so a
 * resumed job continues it exactly where the file is cut back to.
 */
export class FileTally {
  private readonly patients: Set<string>;
  private readonly resources: DisclosedResource[];
  private more: number;
  private readonly cap: number;

  constructor(saved?: DisclosedFile, cap = DISCLOSED_ENTITY_CAP) {
    this.cap = cap;
    this.patients = new Set(saved?.patients ?? []);
    this.resources = [...(saved?.resources ?? [])];
    this.more = saved?.more ?? 0;
  }

  /** One page of NDJSON as written (one resource a line). */
  addLines(ndjson: string): void {
    for (const line of ndjson.split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as Resource;
      const mine = new Set<string>();
      addPatientsOf(r, mine);
      for (const p of mine) this.patients.add(p);
      if (this.resources.length >= this.cap) {
        this.more++;
        continue;
      }
      const version = r.meta?.versionId;
      this.resources.push({ reference: `${r.resourceType}/${r.id}${version ? `/_history/${version}` : ''}`, patients: [...mine] });
    }
  }

  snapshot(): DisclosedFile {
    return { resources: [...this.resources], more: this.more, patients: [...this.patients] };
  }
}

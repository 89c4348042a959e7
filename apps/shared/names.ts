import type { HumanName, Reference } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { useSmart } from './mount.tsx';

/** "Ana Rivera" from a HumanName list (the official or first name; prefix kept). */
export function personName(names: HumanName[] | undefined): string {
  const n = names?.find((x) => x.use === 'official') ?? names?.[0];
  if (!n) return 'Unnamed';
  if (n.text) return n.text;
  return [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

/** The display name of a reference (`Practitioner/1`), read once; the reference's display if it has one. */
export function useReferenceName(ref: Reference | string | undefined): string | undefined {
  const { medplum } = useSmart();
  const reference = typeof ref === 'string' ? ref : ref?.reference;
  const display = typeof ref === 'string' ? undefined : ref?.display;
  // The name read is kept with the reference it belongs to: when the reference changes (a Task
  // handed over), the old person's name is never shown for the new one.
  const [read, setRead] = useState<{ reference: string; name: string }>();
  useEffect(() => {
    if (display || !reference || !/^(Patient|Practitioner|RelatedPerson|PractitionerRole)\/[^/]+$/.test(reference)) return;
    let live = true;
    medplum
      .readReference({ reference } as Reference<never>)
      .then((r) => {
        const named = r as { name?: HumanName[] };
        if (live) setRead({ reference, name: personName(named.name) });
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [reference, display, medplum]);
  return display ?? (read && read.reference === reference ? read.name : undefined);
}

import { Group, Text } from '@mantine/core';
import type { Patient } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { useSmart } from '../../shared/mount.tsx';
import { personName } from '../../shared/names.ts';
import { formatDate } from './format.ts';

/** The patient in view (SMART need_patient_banner): name, birth date, sex, record number. */
export function PatientBanner(props: { patientId: string }) {
  const { medplum } = useSmart();
  const [patient, setPatient] = useState<Patient>();
  useEffect(() => {
    let live = true;
    medplum.readResource('Patient', props.patientId).then(
      (p) => live && setPatient(p),
      () => undefined // The outcomes screen says what went wrong; the banner just stays empty.
    );
    return () => {
      live = false;
    };
  }, [medplum, props.patientId]);
  if (!patient) return null;
  const mrn = patient.identifier?.find((i) => i.value)?.value;
  return (
    <Group gap="md" wrap="wrap">
      <Text fw={700}>
        {personName(patient.name)}
      </Text>
      {patient.birthDate && <Text size="sm">Born {formatDate(patient.birthDate)}</Text>}
      {patient.gender && <Text size="sm">Sex: {patient.gender}</Text>}
      {mrn && <Text size="sm">Record {mrn}</Text>}
    </Group>
  );
}

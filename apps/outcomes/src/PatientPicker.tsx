import { Alert, Anchor, Button, Group, Loader, Stack, Text, TextInput } from '@mantine/core';
import type { Patient } from '@medplum/fhirtypes';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { Link } from 'react-router';
import { PageTitle } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { personName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { formatDate } from './format.ts';
import { BAD } from './colors.ts';

const PAGE = 50;

/**
 * Standalone launch: choose a patient. A plain FHIR search with the clinician's token, so the
 * server's access decision chooses who is listed (a clinician sees the patients they treat).
 */
export function PatientPicker() {
  const { medplum, signInAgain } = useSmart();
  const [query, setQuery] = useState('');
  const [searched, setSearched] = useState('');
  const [patients, setPatients] = useState<Patient[]>();
  const [more, setMore] = useState(false);
  const [problem, setProblem] = useState<Problem>();

  const search = useCallback(
    async (name: string) => {
      setProblem(undefined);
      setPatients(undefined);
      try {
        const bundle = await medplum.search('Patient', { ...(name ? { name } : {}), _sort: 'family,given', _count: String(PAGE) });
        setPatients((bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === 'Patient' ? [e.resource as Patient] : [])));
        setMore(!!bundle.link?.some((l) => l.relation === 'next'));
        setSearched(name);
      } catch (e) {
        setProblem(problemFrom(e));
        setPatients([]);
      }
    },
    [medplum]
  );
  useEffect(() => {
    void search('');
  }, [search]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void search(query.trim());
  };

  return (
    <>
      <PageTitle>Choose a patient</PageTitle>
      <Text mb="md">Patients you care for. Choose one to see their PHQ-9 and GAD-7 outcomes.</Text>
      <form onSubmit={submit} role="search" aria-label="Patients">
        <Group align="flex-end" gap="sm" mb="md" wrap="wrap">
          <TextInput label="Patient name" description="Part of a given or family name" value={query} onChange={(e) => setQuery(e.currentTarget.value)} style={{ flex: '1 1 220px' }} />
          <Button type="submit">Search</Button>
        </Group>
      </form>
      {problem && (
        <Alert color={BAD} title="Patients could not be listed" role="alert" mb="md">
          {problem.message}
          {problem.kind === 'session' && (
            <Button mt="sm" onClick={signInAgain}>
              Sign in again
            </Button>
          )}
        </Alert>
      )}
      {/* Only the outcome of a search is announced, not the whole list. */}
      <Group gap="xs" mb="xs" aria-live="polite">
        {!patients && <Loader size="sm" aria-hidden />}
        <Text size="sm">
          {!patients
            ? 'Searching…'
            : problem
              ? ''
              : patients.length === 0
                ? searched
                  ? `No patient you care for matches “${searched}”.`
                  : 'You have no patients in your care yet.'
                : `${patients.length}${more ? '+' : ''} patient${patients.length === 1 ? '' : 's'}${searched ? ` matching “${searched}”` : ''}.`}
        </Text>
      </Group>
      {patients && patients.length > 0 && (
        <Stack gap={0} component="ul" aria-label="Patients" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
          {patients.map((p) => (
            <li key={p.id} style={{ borderBottom: '1px solid var(--mantine-color-gray-3)' }}>
              <Anchor component={Link} to={`/patient/${p.id}`} display="block" pt="sm" pb={p.birthDate || p.gender ? 2 : 'sm'} fw={600}>
                {personName(p.name)}
              </Anchor>
              {(p.birthDate || p.gender) && (
                <Text size="sm" c="dimmed" pb="sm">
                  {[p.birthDate && `Born ${formatDate(p.birthDate)}`, p.gender && `sex: ${p.gender}`].filter(Boolean).join(', ')}
                </Text>
              )}
            </li>
          ))}
        </Stack>
      )}
      {more && <Text mt="sm">Showing the first {PAGE}. Search by name to find others.</Text>}
    </>
  );
}

import { Alert, Anchor, Button, Group, Loader, Paper, Radio, Stack, Text, TextInput } from '@mantine/core';
import type { Bundle, Encounter, Patient } from '@medplum/fhirtypes';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { PageTitle, Shell } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { personName, useReferenceName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { type LaunchableApp, createLaunch, launchableApps } from './api.ts';

/**
 * The EHR launcher: the clinician finds a patient they care for, picks an encounter (or none) and
 * an app, and launches it (SMART EHR launch). Patients and encounters come from FHIR searches with
 * the clinician's own token, so the server's access decision point chooses what is listed and the
 * audit trail records every search; the launch itself is created by the server's launch API,
 * which checks the patient and encounter again with the same token.
 *
 * The app opens in a new tab: all apps share this origin, and a launch in the same tab would put
 * launch.html and the sign-in pages between the app and the launcher in the tab's history (Back
 * would launch again). A new tab also lets a clinician keep apps for two patients open side by
 * side, each tab with its own SMART session.
 */
const PAGE = 20;
const NO_ENCOUNTER = 'none';

function born(p: Patient): string {
  return p.birthDate ? `, born ${p.birthDate}` : '';
}

function visitLabel(e: Encounter): string {
  const day = e.period?.start?.slice(0, 10) ?? 'No date';
  const what = e.type?.[0]?.text ?? e.type?.[0]?.coding?.[0]?.display ?? e.class?.display ?? 'Visit';
  const status = e.status === 'in-progress' ? 'in progress' : e.status;
  return `${day}: ${what} (${status})`;
}

/** The message of a refusal that names `field` (OperationOutcome.issue.expression), if any. */
function fieldError(problem: Problem | undefined, field: string): string | undefined {
  if (!problem) return undefined;
  const issue = problem.issues.find((i) => i.expression === field);
  if (!issue) return undefined;
  return problem.kind === 'not-found' ? `Not available: ${issue.message}` : issue.message;
}

export function App() {
  const { app, medplum, fetch, fhirUser, signInAgain } = useSmart();
  const userName = useReferenceName(fhirUser);

  const [query, setQuery] = useState('');
  const [searched, setSearched] = useState<string>();
  const [patients, setPatients] = useState<Patient[]>();
  const [searchProblem, setSearchProblem] = useState<Problem>();
  const [patientId, setPatientId] = useState<string>('');

  const [encounters, setEncounters] = useState<Encounter[]>();
  const [encounterProblem, setEncounterProblem] = useState<Problem>();
  const [encounterId, setEncounterId] = useState<string>(NO_ENCOUNTER);

  const [apps, setApps] = useState<LaunchableApp[]>();
  const [appsProblem, setAppsProblem] = useState<Problem>();
  const [appId, setAppId] = useState<string>('');

  const [launching, setLaunching] = useState(false);
  const [launchProblem, setLaunchProblem] = useState<Problem>();
  const [opened, setOpened] = useState<{ text: string; url: string; blocked: boolean }>();

  const search = useCallback(
    async (q: string) => {
      setSearchProblem(undefined);
      setPatients(undefined);
      try {
        const params = new URLSearchParams({ _count: String(PAGE) });
        // A date (YYYY, YYYY-MM, YYYY-MM-DD) searches birth dates; anything else names.
        if (q.trim()) params.set(/^[\d-]+$/.test(q.trim()) ? 'birthdate' : 'name', q.trim());
        const bundle: Bundle<Patient> = await medplum.search('Patient', params.toString());
        const found = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
        found.sort((a, b) => personName(a.name).localeCompare(personName(b.name)));
        setPatients(found);
        setSearched(q.trim());
      } catch (e) {
        setSearchProblem(problemFrom(e));
        setPatients([]);
      }
    },
    [medplum]
  );

  useEffect(() => {
    void search('');
    launchableApps(fetch).then(setApps, (e: unknown) => {
      setAppsProblem(problemFrom(e));
      setApps([]);
    });
  }, [search, fetch]);

  useEffect(() => {
    setEncounters(undefined);
    setEncounterProblem(undefined);
    setEncounterId(NO_ENCOUNTER);
    if (!patientId) return;
    let live = true;
    medplum
      .searchResources('Encounter', `patient=Patient/${patientId}&_sort=-date&_count=${PAGE}`)
      .then(
        (found) => live && setEncounters([...found]),
        (e: unknown) => {
          if (!live) return;
          setEncounterProblem(problemFrom(e));
          setEncounters([]);
        }
      );
    return () => {
      live = false;
    };
  }, [medplum, patientId]);

  const patient = patients?.find((p) => p.id === patientId);
  const chosenApp = apps?.find((a) => a.id === appId);
  const encounter = encounters?.find((e) => e.id === encounterId);

  const onSearch = (ev: FormEvent) => {
    ev.preventDefault();
    setPatientId('');
    setOpened(undefined);
    void search(query);
  };

  const launch = async () => {
    if (!patient?.id || !chosenApp) return;
    setLaunchProblem(undefined);
    setOpened(undefined);
    // Opened now, while the click still counts as the person's action (popup blockers), and
    // pointed at the app once the server has created the launch.
    const tab = window.open('', '_blank');
    setLaunching(true);
    try {
      const l = await createLaunch(fetch, { app: chosenApp.id, patient: patient.id, ...(encounter?.id ? { encounter: encounter.id } : {}) });
      const text = `${chosenApp.name} for ${personName(patient.name)}${encounter ? `, visit ${visitLabel(encounter)}` : ''}`;
      if (tab) {
        tab.opener = null;
        tab.location.replace(l.url);
      }
      setOpened({ text, url: l.url, blocked: !tab });
    } catch (e) {
      tab?.close();
      setLaunchProblem(problemFrom(e));
    } finally {
      setLaunching(false);
    }
  };

  const sessionEnded = [searchProblem, encounterProblem, appsProblem, launchProblem].find((p) => p?.kind === 'session');
  const launchGeneral = launchProblem && !['app', 'patient', 'encounter'].some((f) => fieldError(launchProblem, f)) ? launchProblem : undefined;

  return (
    <Shell appName={app.name} user={userName ?? fhirUser}>
      <PageTitle>Launch an app</PageTitle>
      {sessionEnded && (
        <Alert color="red" title="Signed out" role="alert" mb="md">
          <Stack gap="xs" align="flex-start">
            <Text>{sessionEnded.message}</Text>
            <Button onClick={signInAgain}>Sign in again</Button>
          </Stack>
        </Alert>
      )}
      <Stack gap="lg">
        <Paper withBorder p="md">
          <form role="search" aria-label="Your patients" onSubmit={onSearch}>
            <Group align="flex-end" wrap="wrap" gap="sm">
              <TextInput
                label="Search your patients by name or birth date"
                description="Only patients you may see are listed (your care teams and visits)."
                value={query}
                onChange={(e) => setQuery(e.currentTarget.value)}
                style={{ flex: '1 1 14rem' }}
                type="search"
              />
              <Button type="submit">Search</Button>
            </Group>
          </form>
          <Stack mt="md" gap="xs" aria-busy={patients === undefined}>
            {patients === undefined && <Loader size="sm" aria-label="Searching patients" />}
            {searchProblem && searchProblem.kind !== 'session' && (
              <Alert color="red" role="alert" title="Search failed">
                {searchProblem.message}
              </Alert>
            )}
            {patients && !searchProblem && patients.length === 0 && (
              <Text role="status">{searched ? `No patients of yours match “${searched}”.` : 'No patients are in your care.'}</Text>
            )}
            {patients && patients.length > 0 && (
              <Radio.Group
                label="1. Patient"
                value={patientId}
                onChange={(v) => {
                  setPatientId(v);
                  setOpened(undefined);
                }}
                error={fieldError(launchProblem, 'patient')}
                description={patients.length === PAGE ? `The first ${PAGE} shown: search by name or birth date (YYYY-MM-DD) to narrow.` : undefined}
              >
                <Stack gap="xs" mt="xs">
                  {patients.map((p) => (
                    <Radio key={p.id} value={p.id ?? ''} label={`${personName(p.name)}${born(p)}`} />
                  ))}
                </Stack>
              </Radio.Group>
            )}
          </Stack>
        </Paper>

        {patient && (
          <Paper withBorder p="md" aria-busy={encounters === undefined}>
            {encounters === undefined ? (
              <Loader size="sm" aria-label="Loading visits" />
            ) : (
              <Radio.Group
                label="2. Encounter (visit)"
                description={`Visits of ${personName(patient.name)} you may see, newest first.`}
                value={encounterId}
                onChange={setEncounterId}
                error={fieldError(launchProblem, 'encounter') ?? (encounterProblem && encounterProblem.kind !== 'session' ? encounterProblem.message : undefined)}
              >
                <Stack gap="xs" mt="xs">
                  <Radio value={NO_ENCOUNTER} label="No encounter" />
                  {encounters.map((e) => (
                    <Radio key={e.id} value={e.id ?? ''} label={visitLabel(e)} />
                  ))}
                </Stack>
              </Radio.Group>
            )}
          </Paper>
        )}

        <Paper withBorder p="md" aria-busy={apps === undefined}>
          {apps === undefined ? (
            <Loader size="sm" aria-label="Loading apps" />
          ) : apps.length === 0 ? (
            <Text role={appsProblem ? 'alert' : undefined}>{appsProblem && appsProblem.kind !== 'session' ? appsProblem.message : 'No apps can be launched in this clinic.'}</Text>
          ) : (
            <Radio.Group label={patient ? '3. App' : '2. App'} value={appId} onChange={setAppId} error={fieldError(launchProblem, 'app')}>
              <Stack gap="xs" mt="xs">
                {apps.map((a) => (
                  <Radio key={a.id} value={a.id} label={a.name} />
                ))}
              </Stack>
            </Radio.Group>
          )}
        </Paper>

        <Stack gap="xs" align="flex-start">
          <Button onClick={() => void launch()} disabled={!patient || !chosenApp} loading={launching}>
            {chosenApp ? `Launch ${chosenApp.name}` : 'Launch'}
          </Button>
          {(!patient || !chosenApp) && <Text size="sm" c="dimmed">Choose a patient and an app to launch.</Text>}
          {launchGeneral && launchGeneral.kind !== 'session' && (
            <Alert color="red" role="alert" title="Not launched">
              {launchGeneral.message}
            </Alert>
          )}
          {opened && (
            <Paper withBorder p="sm" role="status" style={{ borderColor: 'var(--mantine-color-green-9)', borderLeftWidth: 4 }}>
              <Text fw={700}>{opened.blocked ? 'Ready to open' : 'Opened in a new tab'}</Text>
              {opened.blocked ? (
                <Text>
                  Your browser did not open a new tab.{' '}
                  <Anchor href={opened.url} target="_blank" rel="noopener">
                    Open {opened.text}
                  </Anchor>{' '}
                  (the link works for 5 minutes).
                </Text>
              ) : (
                <Text>{opened.text}.</Text>
              )}
            </Paper>
          )}
        </Stack>
      </Stack>
    </Shell>
  );
}

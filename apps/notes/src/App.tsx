import { Alert, Button, Group, Loader, NativeSelect, Paper, SimpleGrid, Stack, Tabs, Text, Title } from '@mantine/core';
import type { CarePlan, Encounter, Goal, Observation, Patient } from '@medplum/fhirtypes';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { PageTitle, Shell } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { personName, useReferenceName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { dateTime, shortDate, tokenRoles } from './api.ts';
import { AssignInstrument } from './Assign.tsx';
import { lastVisit, rememberVisit } from './drafts.ts';
import { CountersignQueue, PatientNotes } from './Lists.tsx';
import { NoteEditor } from './NoteEditor.tsx';
import { ProblemAlert } from './ProblemAlert.tsx';
import { type ContextData, PlanPanel, ScoresPanel } from './VisitContext.tsx';

const SCORE_PROFILE = 'http://bh-fhir.org/fhir/StructureDefinition/assessment-score';

function PatientBanner({ patient }: { patient?: Patient }) {
  if (!patient) return null;
  return (
    <Text size="sm">
      <strong>{personName(patient.name)}</strong>
      {patient.birthDate ? `, born ${shortDate(patient.birthDate)}` : ''}
      {patient.gender ? `, ${patient.gender}` : ''}
    </Text>
  );
}

const visitLabel = (e: Encounter): string =>
  `${dateTime(e.period?.start)}: ${e.type?.[0]?.text ?? e.class?.display ?? 'Visit'} (${e.status === 'in-progress' ? 'in progress' : e.status})`;

export function App() {
  const { app, medplum, smart, patientId, encounterId: launchEncounter, fhirUser, signInAgain } = useSmart();
  const userName = useReferenceName(fhirUser);
  const supervisor = useMemo(() => tokenRoles(smart).includes('supervisor'), [smart]);
  const [patient, setPatient] = useState<Patient>();
  const [encounters, setEncounters] = useState<Encounter[]>();
  const [encounterId, setEncounterId] = useState<string | undefined>(launchEncounter);
  const [problem, setProblem] = useState<Problem>();
  const [context, setContext] = useState<ContextData>();
  const [contextError, setContextError] = useState<unknown>();
  const [refresh, setRefresh] = useState(0);
  const [tab, setTab] = useState<string | null>('visit');

  const loadEncounters = useCallback(async () => {
    if (!patientId) return;
    const found = await medplum.searchResources('Encounter', `patient=Patient/${patientId}&_sort=-date&_count=50`);
    setEncounters(found);
    return found;
  }, [medplum, patientId]);

  useEffect(() => {
    if (!patientId) return;
    medplum
      .readResource('Patient', patientId)
      .then(setPatient)
      .catch((e: unknown) => setProblem(problemFrom(e)));
    loadEncounters()
      .then((found) => {
        // A standalone launch (or sign-in again) carries no encounter: reopen the visit last worked on.
        const remembered = lastVisit(patientId);
        if (!launchEncounter && remembered && found?.some((e) => e.id === remembered)) setEncounterId(remembered);
      })
      .catch((e: unknown) => setProblem(problemFrom(e)));
  }, [medplum, patientId, launchEncounter, loadEncounters]);

  useEffect(() => {
    if (patientId && encounterId) rememberVisit(patientId, encounterId);
  }, [patientId, encounterId]);

  const current = encounters?.find((e) => e.id === encounterId);
  const previousVisit = useMemo(() => {
    if (!encounters || !encounterId) return undefined;
    const start = current?.period?.start ?? new Date().toISOString();
    return encounters.filter((e) => e.id !== encounterId && (e.period?.start ?? '') < start).sort((a, b) => (b.period?.start ?? '').localeCompare(a.period?.start ?? ''))[0];
  }, [encounters, encounterId, current]);

  useEffect(() => {
    if (!patientId || !encounterId || !encounters) return;
    let live = true;
    setContext(undefined);
    setContextError(undefined);
    const since = previousVisit?.period?.start?.slice(0, 10);
    Promise.all([
      medplum.searchResources(
        'Observation',
        `patient=Patient/${patientId}&_profile=${encodeURIComponent(SCORE_PROFILE)}&status=final,amended,corrected&_sort=date&_count=100${since ? `&date=ge${since}` : ''}`
      ),
      medplum.searchResources('Goal', `patient=Patient/${patientId}&lifecycle-status=active&_count=50`),
      medplum.searchResources('CarePlan', `patient=Patient/${patientId}&status=active&_count=20`),
    ]).then(
      ([scores, goals, plans]) => live && setContext({ previousVisit, scores: scores as Observation[], goals: goals as Goal[], plans: plans as CarePlan[] }),
      (e: unknown) => live && setContextError(e)
    );
    return () => {
      live = false;
    };
  }, [medplum, patientId, encounterId, encounters, previousVisit]);

  const onChanged = useCallback(() => setRefresh((n) => n + 1), []);

  return (
    <Shell appName={app.name} user={userName ?? fhirUser} patient={<PatientBanner patient={patient} />}>
      <PageTitle>Session notes{patient ? `: ${personName(patient.name)}` : ''}</PageTitle>
      {!patientId ? (
        <Alert color="red" title="No patient">
          Open this app for a patient: from the EHR, or sign in again and choose a patient.
        </Alert>
      ) : (
        <Stack gap="md">
          {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
          <Tabs value={tab} onChange={setTab} keepMounted={false}>
            <Tabs.List>
              <Tabs.Tab value="visit">This visit</Tabs.Tab>
              <Tabs.Tab value="notes">All notes</Tabs.Tab>
              <Tabs.Tab value="assign">Assign instrument</Tabs.Tab>
              {supervisor && <Tabs.Tab value="countersign">Countersign queue</Tabs.Tab>}
            </Tabs.List>
            <Tabs.Panel value="visit" pt="md">
              {!encounters ? (
                <Loader aria-label="Loading visits" />
              ) : (
                <Stack gap="md">
                  <VisitChooser
                    patientId={patientId}
                    encounters={encounters}
                    current={current}
                    fromLaunch={Boolean(launchEncounter) && launchEncounter === encounterId}
                    onChoose={setEncounterId}
                    onStarted={async (id) => {
                      await loadEncounters();
                      setEncounterId(id);
                    }}
                    practitioner={fhirUser}
                  />
                  {encounterId && (
                    <>
                      <SimpleGrid cols={{ base: 1, md: 2 }}>
                        <ScoresPanel data={context} error={contextError} />
                        <PlanPanel data={context} error={contextError} />
                      </SimpleGrid>
                      <NoteEditor key={encounterId} patientId={patientId} encounterId={encounterId} context={context} onChanged={onChanged} />
                    </>
                  )}
                </Stack>
              )}
            </Tabs.Panel>
            <Tabs.Panel value="notes" pt="md">
              <PatientNotes patientId={patientId} refresh={refresh} />
            </Tabs.Panel>
            <Tabs.Panel value="assign" pt="md">
              <AssignInstrument patientId={patientId} />
            </Tabs.Panel>
            {supervisor && (
              <Tabs.Panel value="countersign" pt="md">
                <CountersignQueue />
              </Tabs.Panel>
            )}
          </Tabs>
        </Stack>
      )}
    </Shell>
  );
}

/** The visit the note is for: from the launch, or picked (or started) by the clinician. */
function VisitChooser(props: {
  patientId: string;
  encounters: Encounter[];
  current?: Encounter;
  fromLaunch: boolean;
  practitioner?: string;
  onChoose: (id: string) => void;
  onStarted: (id: string) => Promise<void>;
}) {
  const { medplum, signInAgain } = useSmart();
  const [choosing, setChoosing] = useState(!props.current);
  const [pick, setPick] = useState(props.current?.id ?? props.encounters[0]?.id ?? '');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>();
  useEffect(() => setChoosing(!props.current), [props.current]);

  const start = async () => {
    if (!props.practitioner) return;
    setBusy(true);
    try {
      const e = await medplum.createResource<Encounter>({
        resourceType: 'Encounter',
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ text: 'Psychotherapy session' }],
        subject: { reference: `Patient/${props.patientId}` },
        participant: [{ individual: { reference: props.practitioner } }],
        period: { start: new Date().toISOString() },
      });
      setProblem(undefined);
      await props.onStarted(e.id!);
    } catch (e) {
      setProblem(problemFrom(e));
    } finally {
      setBusy(false);
    }
  };

  if (!choosing && props.current) {
    return (
      <Group justify="space-between" wrap="wrap">
        <Text>
          <strong>Visit:</strong> {visitLabel(props.current)}
          {props.fromLaunch ? ' (from the EHR)' : ''}
        </Text>
        <Button variant="default" size="xs" onClick={() => setChoosing(true)}>
          Change visit
        </Button>
      </Group>
    );
  }
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="visit-title">
      <Title order={2} size="h4" id="visit-title">
        Choose the visit
      </Title>
      <Text size="sm" mb="sm">
        A note belongs to one visit. Pick a recent visit or start today&apos;s.
      </Text>
      {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
      <Stack gap="sm">
        {props.encounters.length > 0 && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (pick) props.onChoose(pick);
              setChoosing(false);
            }}
          >
            <Group align="end" wrap="wrap">
              <NativeSelect label="Visit" value={pick} onChange={(e) => setPick(e.currentTarget.value)} data={props.encounters.map((e) => ({ value: e.id!, label: visitLabel(e) }))} style={{ flex: 1, minWidth: 240 }} />
              <Button type="submit">Open visit</Button>
            </Group>
          </form>
        )}
        <div>
          <Button variant="default" onClick={() => void start()} loading={busy}>
            Start a new visit now
          </Button>
        </div>
      </Stack>
    </Paper>
  );
}

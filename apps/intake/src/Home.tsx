import { Alert, Box, Button, Card, Group, Loader, Stack, Text, Title } from '@mantine/core';
import type { Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { useReferenceName } from '../../shared/names.ts';
import { problemFrom } from '../../shared/problem.ts';
import { CrisisResources } from './Crisis.tsx';
import { type Assignment, type Home, findQuestionnaire, loadHome } from './data.ts';
import type { Fhir } from './fhir.ts';
import { canonicalOf, sameCanonical } from './questionnaire.ts';


/**
 * The list: crisis resources while a risk is open, then the instruments assigned to the patient
 * (read fresh on every visit, on returning to the tab and every 30 seconds, so a new assignment
 * shows at once), then answers saved for later. Clinicians filling in on a patient's behalf may
 * also start any of the clinic's active instruments; patients and guardians see assignments only.
 */
export function HomeView(props: {
  fhir: Fhir;
  patientId: string;
  patientName?: string;
  role: 'patient' | 'guardian' | 'clinician';
  open: (q: Questionnaire, opts: { taskId?: string; draft?: QuestionnaireResponse }) => void;
}) {
  const { fhir, patientId } = props;
  const [home, setHome] = useState<Home>();
  const [problem, setProblem] = useState<string>();
  const [tick, setTick] = useState(0);
  const [active, setActive] = useState<Questionnaire[]>();
  useEffect(() => {
    let live = true;
    loadHome(fhir, patientId).then(
      (h) => {
        if (!live) return;
        setHome(h);
        setProblem(undefined);
      },
      (e: unknown) => live && setProblem(problemFrom(e).message)
    );
    return () => {
      live = false;
    };
  }, [fhir, patientId, tick]);
  useEffect(() => {
    const again = () => document.visibilityState === 'visible' && setTick((t) => t + 1);
    document.addEventListener('visibilitychange', again);
    const timer = window.setInterval(again, 30_000);
    return () => {
      document.removeEventListener('visibilitychange', again);
      window.clearInterval(timer);
    };
  }, []);
  useEffect(() => {
    if (props.role !== 'clinician') return;
    fhir.search<Questionnaire>('Questionnaire?status=active&_count=50').then(
      (qs) => setActive(qs.sort((a, b) => (a.title ?? '').localeCompare(b.title ?? ''))),
      () => setActive([])
    );
  }, [fhir, props.role]);

  const who = props.role === 'patient' ? 'you' : (props.patientName ?? 'this patient');
  const drafts = home && home.drafts !== 'hidden' ? home.drafts : [];
  const draftFor = (canonical: string) => drafts.find((d) => d.questionnaire && sameCanonical(d.questionnaire, canonical));
  const heading = props.role === 'patient' ? 'Your questionnaires' : `Questionnaires for ${props.patientName ?? 'the patient'}`;
  return (
    <Box>
      <Title order={1} size="h2" mb="md">
        {heading}
      </Title>
      {home?.crisis && <CrisisResources crisis={home.crisis} />}
      {problem && (
        <Alert color="red" title="Could not load the list" mb="md" role="alert">
          <Text size="sm">{problem}</Text>
          <Button mt="xs" onClick={() => setTick((t) => t + 1)}>
            Try again
          </Button>
        </Alert>
      )}
      {!home && !problem && (
        <Group aria-busy="true">
          <Loader size="sm" aria-hidden />
          <Text>Loading…</Text>
        </Group>
      )}
      {home && (
        <Stack gap="lg">
          <Box component="section" aria-labelledby="assigned-title">
            <Title order={2} size="h3" id="assigned-title" mb="xs">
              Assigned to {who}
            </Title>
            {home.assignments === 'hidden' ? (
              <Text>{props.patientName ?? 'The patient'}'s questionnaires have not been shared with you.</Text>
            ) : home.assignments.length === 0 ? (
              <Text>Nothing to fill in right now. When your care team asks you to complete a questionnaire, it will show here.</Text>
            ) : (
              <Stack gap="sm" component="ul" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
                {home.assignments.map((a) => (
                  <AssignmentCard key={a.task.id} a={a} draft={draftFor(a.canonical)} open={props.open} />
                ))}
              </Stack>
            )}
          </Box>
          {drafts.filter((d) => home.assignments === 'hidden' || !home.assignments.some((a) => d.questionnaire && sameCanonical(d.questionnaire, a.canonical))).length > 0 && (
            <Box component="section" aria-labelledby="drafts-title">
              <Title order={2} size="h3" id="drafts-title" mb="xs">
                Saved for later
              </Title>
              <Stack gap="sm" component="ul" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
                {drafts
                  .filter((d) => home.assignments === 'hidden' || !home.assignments.some((a) => d.questionnaire && sameCanonical(d.questionnaire, a.canonical)))
                  .map((d) => (
                    <DraftCard key={d.id} fhir={fhir} draft={d} open={props.open} />
                  ))}
              </Stack>
            </Box>
          )}
          {props.role === 'clinician' && active && active.length > 0 && (
            <Box component="section" aria-labelledby="start-title">
              <Title order={2} size="h3" id="start-title" mb="xs">
                Start another questionnaire with the patient
              </Title>
              <Group gap="xs" wrap="wrap">
                {active.map((q) => (
                  <Button key={canonicalOf(q)} variant="outline" onClick={() => props.open(q, { draft: draftFor(canonicalOf(q)) })}>
                    {q.title ?? q.name}
                  </Button>
                ))}
              </Group>
            </Box>
          )}
        </Stack>
      )}
    </Box>
  );
}

function AssignmentCard(props: { a: Assignment; draft?: QuestionnaireResponse; open: (q: Questionnaire, opts: { taskId?: string; draft?: QuestionnaireResponse }) => void }) {
  const { a } = props;
  const requester = useReferenceName(a.task.requester);
  const title = a.questionnaire?.title ?? 'Questionnaire';
  const started = Boolean(props.draft) || a.task.status === 'in-progress';
  const due = a.task.restriction?.period?.end;
  return (
    <Card component="li" withBorder padding="md" radius="md">
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Box>
          <Text fw={700}>{title}</Text>
          <Text size="sm" c="dimmed">
            {requester ? `Asked by ${requester}` : 'Asked by your care team'}
            {a.task.authoredOn ? ` on ${new Date(a.task.authoredOn).toLocaleDateString()}` : ''}
            {due ? `; please complete by ${new Date(due).toLocaleDateString()}` : ''}
          </Text>
          {a.task.note?.[0]?.text && <Text size="sm">{a.task.note[0].text}</Text>}
        </Box>
        <Group gap="xs">
          <Text size="sm" fw={600}>
            {started ? 'Started' : 'Not started'}
          </Text>
          {a.questionnaire ? (
            <Button onClick={() => props.open(a.questionnaire as Questionnaire, { taskId: a.task.id, draft: props.draft })} aria-label={`${started ? 'Continue' : 'Start'} ${title}`}>
              {started ? 'Continue' : 'Start'}
            </Button>
          ) : (
            <Text size="sm">This questionnaire is not available.</Text>
          )}
        </Group>
      </Group>
    </Card>
  );
}

function DraftCard(props: { fhir: Fhir; draft: QuestionnaireResponse; open: (q: Questionnaire, opts: { draft?: QuestionnaireResponse }) => void }) {
  const [q, setQ] = useState<Questionnaire | null>();
  useEffect(() => {
    findQuestionnaire(props.fhir, props.draft.questionnaire ?? '').then(
      (x) => setQ(x ?? null),
      () => setQ(null)
    );
  }, [props.fhir, props.draft.questionnaire]);
  if (!q) return null;
  return (
    <Card component="li" withBorder padding="md" radius="md">
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Box>
          <Text fw={700}>{q.title}</Text>
          <Text size="sm" c="dimmed">
            Saved {props.draft.authored ? new Date(props.draft.authored).toLocaleString() : ''}
          </Text>
        </Box>
        <Button onClick={() => props.open(q, { draft: props.draft })} aria-label={`Continue ${q.title}`}>
          Continue
        </Button>
      </Group>
    </Card>
  );
}

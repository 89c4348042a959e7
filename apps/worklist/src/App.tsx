import { Box, Button, Group, List, Paper, Stack, Text, Title, VisuallyHidden } from '@mantine/core';
import type { ReactNode } from 'react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { PageTitle, Shell } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { personName, useReferenceName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { type LiveState, POLL_MS, useLiveUpdates } from './live.ts';
import { Notice } from './Notice.tsx';
import { RiskTasks } from './RiskTasks.tsx';
import { type RiskItem, openRiskTasksQuery, riskItems, sortRisk } from './risk.ts';
import { formatDay, formatTime, relative } from './time.ts';
import { type NoteItem, type OverdueAssessment, isSupervisor, notesToCountersign, overdueAssessments, unsignedNotes } from './work.ts';

interface OtherWork {
  assessments: OverdueAssessment[];
  unsigned: NoteItem[];
  countersign?: NoteItem[];
}

export function App() {
  const { app, medplum, fhirUser, signInAgain } = useSmart();
  const me = fhirUser ?? '';
  const myName = useReferenceName(fhirUser);
  const [now, setNow] = useState(() => new Date());
  const [risk, setRisk] = useState<RiskItem[]>();
  const [riskProblem, setRiskProblem] = useState<Problem>();
  const [other, setOther] = useState<OtherWork>();
  const [otherProblem, setOtherProblem] = useState<Problem>();
  const [announcement, setAnnouncement] = useState('');
  const [message, setMessage] = useState('');
  const known = useRef<Set<string>>(undefined);
  const loading = useRef<Promise<void>>(undefined);
  const again = useRef(false);

  // One fetch at a time; a change arriving during a fetch fetches once more after it.
  const loadRisk = useCallback(() => {
    if (loading.current) {
      again.current = true;
      return;
    }
    loading.current = medplum
      .search('Task', openRiskTasksQuery)
      .then(
        (bundle) => {
          const items = riskItems(bundle);
          const ids = new Set(items.map((i) => i.task.id));
          if (known.current) {
            const fresh = items.filter((i) => !known.current?.has(i.task.id));
            if (fresh.length) {
              const names = fresh.map((i) => `${i.patient ? personName(i.patient.name) : 'a patient'}, priority ${i.task.priority ?? 'unknown'}`);
              setAnnouncement(`New risk task${fresh.length > 1 ? 's' : ''}: ${names.join('; ')}.`);
            }
          }
          known.current = ids;
          setNow(new Date());
          setRisk(items);
          setRiskProblem(undefined);
        },
        (e: unknown) => setRiskProblem(problemFrom(e))
      )
      .finally(() => {
        loading.current = undefined;
        if (again.current) {
          again.current = false;
          loadRisk();
        }
      });
  }, [medplum]);

  const loadOther = useCallback(() => {
    const at = new Date();
    Promise.all([
      overdueAssessments(medplum, at),
      unsignedNotes(medplum, me),
      isSupervisor(medplum, me).then((yes) => (yes ? notesToCountersign(medplum, me) : undefined)),
    ]).then(
      ([assessments, unsigned, countersign]) => {
        setOther({ assessments, unsigned, countersign });
        setOtherProblem(undefined);
      },
      (e: unknown) => setOtherProblem(problemFrom(e))
    );
  }, [medplum, me]);

  useEffect(() => {
    loadRisk();
    loadOther();
    // The clock of the deadlines ("overdue", "in 12 minutes") moves even when nothing changes.
    const tick = setInterval(() => setNow(new Date()), 30_000);
    const otherPoll = setInterval(loadOther, 5 * 60_000);
    return () => {
      clearInterval(tick);
      clearInterval(otherPoll);
    };
  }, [loadRisk, loadOther]);

  const live = useLiveUpdates(medplum, loadRisk);
  const session = riskProblem?.kind === 'session' || otherProblem?.kind === 'session';

  const changed = (m: string) => {
    setMessage(m);
    loadRisk();
  };

  return (
    <Shell appName={app.name} user={myName ?? fhirUser}>
      <PageTitle>Worklist</PageTitle>
      <LiveStatus state={live} />
      {/* Announced by screen readers when a risk task arrives; empty on the first load. */}
      <VisuallyHidden role="alert" aria-live="assertive">
        {announcement}
      </VisuallyHidden>
      <VisuallyHidden role="status" aria-live="polite">
        {message}
      </VisuallyHidden>
      {message && (
        <Paper withBorder p="sm" mb="md" style={{ borderColor: 'var(--mantine-color-green-9)', borderWidth: 2 }}>
          <Group justify="space-between" wrap="nowrap" gap="xs">
            <Text>✓ {message}</Text>
            <Button variant="subtle" size="xs" onClick={() => setMessage('')}>
              Dismiss
            </Button>
          </Group>
        </Paper>
      )}
      {session && (
        <Notice title="Signed out" mb="md">
          <Stack gap="xs" align="flex-start">
            <Text>Your session has ended. Sign in again to continue.</Text>
            <Button onClick={signInAgain}>Sign in again</Button>
          </Stack>
        </Notice>
      )}
      {riskProblem && !session && (
        <Notice title="Risk tasks could not be loaded" mb="md">
          <Stack gap="xs" align="flex-start">
            <Text>{riskProblem.message}</Text>
            <Button variant="outline" onClick={loadRisk}>
              Try again
            </Button>
          </Stack>
        </Notice>
      )}
      {risk ? (
        <RiskTasks items={sortRisk(risk, now)} now={now} onChanged={changed} reload={loadRisk} />
      ) : (
        !riskProblem && (
          <Box component="section" aria-labelledby="risk-tasks-heading" mb="xl" aria-busy="true">
            <Title order={2} id="risk-tasks-heading" size="h3" mb="sm">
              Risk tasks
            </Title>
            <Text>Loading…</Text>
          </Box>
        )
      )}

      {otherProblem && !session && (
        <Notice title="Part of the worklist could not be loaded" mb="md">
          <Stack gap="xs" align="flex-start">
            <Text>{otherProblem.message}</Text>
            <Button variant="outline" onClick={loadOther}>
              Try again
            </Button>
          </Stack>
        </Notice>
      )}
      <Section title="Overdue assessments" loading={!other && !otherProblem} count={other?.assessments.length} empty="No overdue assessments.">
        {other?.assessments.map((a) => (
          <List.Item key={a.key}>
            <Text fw={600} component="span">
              {a.patient}
            </Text>
            {`: ${a.instrument}, due ${formatDay(a.due)} (${relative(a.due, now)}). ${a.detail}`}
          </List.Item>
        ))}
      </Section>
      <Section title="My unsigned notes" loading={!other && !otherProblem} count={other?.unsigned.length} empty="No unsigned notes.">
        {other?.unsigned.map((n) => <NoteLine key={n.id} note={n} />)}
      </Section>
      {other?.countersign && (
        <Section title="Notes waiting for your countersignature" loading={false} count={other.countersign.length} empty="No notes waiting for your countersignature.">
          {other.countersign.map((n) => (
            <NoteLine key={n.id} note={n} withAuthor />
          ))}
        </Section>
      )}
      <Group mt="lg">
        <Button
          variant="outline"
          onClick={() => {
            loadRisk();
            loadOther();
          }}
        >
          Refresh now
        </Button>
        <Text size="sm" c="dimmed">
          Updated {formatTime(now)}
        </Text>
      </Group>
    </Shell>
  );
}

function LiveStatus(props: { state: LiveState }) {
  const s = props.state;
  if (s.kind === 'live') {
    return (
      <Text size="sm" mb="md">
        ● Live updates on: new risk tasks appear here without reloading.
      </Text>
    );
  }
  if (s.kind === 'connecting') {
    return (
      <Text size="sm" mb="md">
        Connecting live updates…
      </Text>
    );
  }
  return (
    <Paper withBorder p="sm" mb="md" style={{ borderColor: 'var(--mantine-color-orange-9)', borderWidth: 2 }}>
      <Text fw={700}>⚠ Live updates are off</Text>
      <Text size="sm">
        {s.why} The worklist checks for new risk tasks every {POLL_MS / 1000} seconds and keeps trying to reconnect.
      </Text>
    </Paper>
  );
}

function Section(props: { title: string; loading: boolean; count?: number; empty: string; children: ReactNode }) {
  const id = `section-${props.title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return (
    <Paper component="section" aria-labelledby={id} withBorder p="md" mb="md">
      <Title order={2} size="h3" id={id} mb="xs">
        {props.title}
        {props.count !== undefined ? ` (${props.count})` : ''}
      </Title>
      {props.loading ? (
        <Text>Loading…</Text>
      ) : props.count ? (
        <List spacing="xs" aria-labelledby={id}>
          {props.children}
        </List>
      ) : (
        <Text>{props.empty}</Text>
      )}
    </Paper>
  );
}

function NoteLine(props: { note: NoteItem; withAuthor?: boolean }) {
  const author = useReferenceName(props.withAuthor ? props.note.author : undefined);
  return (
    <List.Item>
      <Text fw={600} component="span">
        {props.note.patient}
      </Text>
      {`: ${props.note.title}${props.note.date ? `, ${formatDay(new Date(props.note.date))}` : ''}${props.withAuthor ? `, signed by ${author ?? 'a clinician'}` : ''}`}
    </List.Item>
  );
}

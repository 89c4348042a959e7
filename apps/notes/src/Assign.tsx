import { Button, Group, List, Loader, NativeSelect, Stack, Text, Title } from '@mantine/core';
import type { Questionnaire, Task } from '@medplum/fhirtypes';
import { useCallback, useEffect, useState } from 'react';
import { openAssignmentsQuery, questionnaireTask } from '../../shared/assignment.ts';
import { useSmart } from '../../shared/mount.tsx';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { dateTime } from './api.ts';
import { ProblemAlert } from './ProblemAlert.tsx';

const canonical = (q: Questionnaire): string => `${q.url}|${q.version}`;
const label = (q: Questionnaire): string => `${q.title ?? q.name ?? q.url} (version ${q.version})`;

/**
 * Assign one of the clinic's active instruments to the patient: an SDC questionnaire Task
 * (shared/assignment.ts) that the patient sees at once in intake.
 */
export function AssignInstrument(props: { patientId: string }) {
  const { medplum, fhirUser, signInAgain } = useSmart();
  const [instruments, setInstruments] = useState<Questionnaire[]>();
  const [open, setOpen] = useState<Task[]>([]);
  const [choice, setChoice] = useState('');
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string>();

  const loadOpen = useCallback(async () => {
    const [type, query] = openAssignmentsQuery(props.patientId).split('?');
    setOpen((await medplum.searchResources(type as 'Task', query)) as Task[]);
  }, [medplum, props.patientId]);

  useEffect(() => {
    medplum
      .searchResources('Questionnaire', 'status=active&_count=100')
      .then((qs) => {
        const usable = qs.filter((q) => q.url && q.version).sort((a, b) => label(a).localeCompare(label(b)));
        setInstruments(usable);
        if (usable[0]) setChoice((c) => c || canonical(usable[0]));
      })
      .catch((e: unknown) => setProblem(problemFrom(e)));
    loadOpen().catch(() => undefined);
  }, [medplum, loadOpen]);

  const titleOf = (c: string | undefined): string => {
    const q = instruments?.find((x) => canonical(x) === c);
    return q ? label(q) : (c ?? '');
  };

  const assign = async () => {
    if (!fhirUser || !choice) return;
    setBusy(true);
    setDone(undefined);
    try {
      await medplum.createResource<Task>(questionnaireTask({ patientId: props.patientId, questionnaire: choice, requester: fhirUser }));
      setProblem(undefined);
      setDone(`Assigned ${titleOf(choice)}. The patient sees it in Intake now.`);
      await loadOpen();
    } catch (e) {
      setProblem(problemFrom(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack gap="md">
      <Title order={2} size="h4">
        Assign an instrument
      </Title>
      {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
      {!instruments ? (
        <Loader aria-label="Loading instruments" />
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void assign();
          }}
        >
          <Group align="end" wrap="wrap">
            <NativeSelect
              label="Instrument"
              value={choice}
              onChange={(e) => setChoice(e.currentTarget.value)}
              data={instruments.map((q) => ({ value: canonical(q), label: label(q) }))}
              style={{ minWidth: 240, flex: 1 }}
            />
            <Button type="submit" loading={busy} disabled={!choice}>
              Assign to patient
            </Button>
          </Group>
        </form>
      )}
      {done && (
        <Text role="status" fw={600}>
          {done}
        </Text>
      )}
      <Title order={3} size="h5">
        Open assignments
      </Title>
      {open.length === 0 ? (
        <Text>None.</Text>
      ) : (
        <List>
          {open.map((t) => (
            <List.Item key={t.id}>
              {titleOf(t.input?.[0]?.valueCanonical)}, assigned {dateTime(t.authoredOn)} ({t.status})
            </List.Item>
          ))}
        </List>
      )}
    </Stack>
  );
}

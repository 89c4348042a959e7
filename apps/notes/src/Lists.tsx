import { Alert, Button, Loader, Paper, Stack, Text, Title } from '@mantine/core';
import type { Composition } from '@medplum/fhirtypes';
import { useCallback, useEffect, useState } from 'react';
import { useSmart } from '../../shared/mount.tsx';
import { useReferenceName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { dateTime, signing } from './api.ts';
import { PROGRESS_NOTE, countersigners, isAddendum, isSigned } from './note.ts';
import { NoteView } from './NoteView.tsx';
import { ProblemAlert } from './ProblemAlert.tsx';

const NOTE_TYPE = encodeURIComponent(`${PROGRESS_NOTE.system}|${PROGRESS_NOTE.code}`);

function Name(props: { reference?: string }) {
  return <>{useReferenceName(props.reference) ?? 'Unknown'}</>;
}

/** The patient's notes, newest first, each with its signatures and addenda. */
export function PatientNotes(props: { patientId: string; refresh: number }) {
  const { medplum } = useSmart();
  const [notes, setNotes] = useState<Composition[]>();
  const [problem, setProblem] = useState<Problem>();
  useEffect(() => {
    medplum
      .searchResources('Composition', `patient=Patient/${props.patientId}&type=${NOTE_TYPE}&_sort=-date&_count=50`)
      .then((found) => setNotes(found.filter((n) => !isAddendum(n) && n.status !== 'entered-in-error')))
      .catch((e: unknown) => setProblem(problemFrom(e)));
  }, [medplum, props.patientId, props.refresh]);
  if (problem) return <Alert color="red">{problem.message}</Alert>;
  if (!notes) return <Loader aria-label="Loading notes" />;
  if (notes.length === 0) return <Text>No notes for this patient yet.</Text>;
  return (
    <Stack gap="md">
      {notes.map((n) => (
        <Paper key={n.id} withBorder p="md" component="article" aria-labelledby={`note-${n.id}`}>
          <Title order={2} size="h4" id={`note-${n.id}`}>
            {n.title ?? 'Progress note'}, {dateTime(n.date)}
          </Title>
          <Text size="sm" mb="xs">
            Author: <Name reference={n.author?.[0]?.reference} />
          </Text>
          <NoteView note={n} />
        </Paper>
      ))}
    </Stack>
  );
}

/**
 * Supervisors: signed notes (and signed addenda) of the clinic that nobody has countersigned,
 * written by someone else. The server decides ($countersign needs role supervisor, not an author).
 */
export function CountersignQueue() {
  const { medplum, fetch, fhirUser, signInAgain } = useSmart();
  const [queue, setQueue] = useState<Composition[]>();
  const [problem, setProblem] = useState<Problem>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const load = useCallback(async () => {
    const found = await medplum.searchResources('Composition', `type=${NOTE_TYPE}&status=final,amended&_sort=-date&_count=100`);
    setQueue(found.filter((n) => isSigned(n) && countersigners(n).length === 0 && !n.author?.some((a) => a.reference === fhirUser)));
  }, [medplum, fhirUser]);
  useEffect(() => {
    load().catch((e: unknown) => setProblem(problemFrom(e)));
  }, [load]);

  const countersign = async (n: Composition) => {
    setBusy(n.id);
    setProblem(undefined);
    try {
      await signing(fetch, n.id!, '$countersign');
      setDone(`Countersigned the note of ${dateTime(n.date)}.`);
      await load();
    } catch (e) {
      setProblem(problemFrom(e));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <Stack gap="md">
      {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
      {done && (
        <Text role="status" fw={600}>
          {done}
        </Text>
      )}
      {!queue ? (
        <Loader aria-label="Loading the countersign queue" />
      ) : queue.length === 0 ? (
        <Text>No notes are waiting for your countersignature.</Text>
      ) : (
        queue.map((n) => (
          <Paper key={n.id} withBorder p="md" component="article" aria-labelledby={`queue-${n.id}`}>
            <Title order={2} size="h4" id={`queue-${n.id}`}>
              {isAddendum(n) ? 'Addendum' : n.title ?? 'Progress note'} for <Name reference={n.subject?.reference} />, {dateTime(n.date)}
            </Title>
            <Text size="sm" mb="xs">
              Author: <Name reference={n.author?.[0]?.reference} />
            </Text>
            <NoteView note={n} allowAddendum={false} />
            <div>
              <Button mt="sm" onClick={() => void countersign(n)} loading={busy === n.id} disabled={Boolean(busy)}>
                Countersign
              </Button>
            </div>
          </Paper>
        ))
      )}
    </Stack>
  );
}

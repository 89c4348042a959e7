import { Badge, Button, Divider, Group, NativeSelect, Paper, Stack, Text, Textarea, Title } from '@mantine/core';
import type { Composition } from '@medplum/fhirtypes';
import { useCallback, useEffect, useId, useState } from 'react';
import { useSmart } from '../../shared/mount.tsx';
import { useReferenceName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { dateTime, signing } from './api.ts';
import { BADGE } from './colors.ts';
import { dropAddendum, keepAddendum, loadAddendum } from './drafts.ts';
import { SECTION, SOAP_KEYS, type SectionKey, buildAddendum, isSigned, sectionKeyOf, sectionOfExpression, sectionText } from './note.ts';
import { ProblemAlert } from './ProblemAlert.tsx';

function Person(props: { reference?: string }) {
  return <>{useReferenceName(props.reference) ?? props.reference ?? 'someone'}</>;
}

/** The state of a note in words: draft, signed by, countersigned by. */
export function Signatures({ note }: { note: Composition }) {
  const legal = note.attester?.find((a) => a.mode === 'legal');
  const counter = (note.attester ?? []).filter((a) => a.mode === 'professional');
  if (!legal) return <Badge variant="filled" color={BADGE.blue}>Draft (unsigned)</Badge>;
  return (
    <Stack gap={2}>
      <Text size="sm">
        <Badge variant="filled" color={BADGE.green} mr="xs">
          Signed
        </Badge>
        by <Person reference={legal.party?.reference} /> on {dateTime(legal.time)}
      </Text>
      {counter.length ? (
        counter.map((a, i) => (
          <Text size="sm" key={i}>
            <Badge variant="filled" color={BADGE.green} mr="xs">
              Countersigned
            </Badge>
            by <Person reference={a.party?.reference} /> on {dateTime(a.time)}
          </Text>
        ))
      ) : (
        <Text size="sm">Not countersigned yet.</Text>
      )}
    </Stack>
  );
}

/** A stored note, read only: its sections and signatures; for a signed note, its addenda and a form for a new one. */
export function NoteView(props: { note: Composition; onChanged?: () => void; headingLevel?: 3 | 4; allowAddendum?: boolean }) {
  const { note } = props;
  const { medplum, fhirUser } = useSmart();
  const [addenda, setAddenda] = useState<Composition[]>([]);
  const level = props.headingLevel ?? 3;
  const loadAddenda = useCallback(async () => {
    if (!note.id) return;
    const found = await medplum.searchResources('Composition', `related-ref=Composition/${note.id}&_sort=date&_count=50`);
    setAddenda(found.filter((c) => c.relatesTo?.some((r) => r.code === 'appends' && r.targetReference?.reference === `Composition/${note.id}`)));
  }, [medplum, note.id]);
  useEffect(() => {
    void loadAddenda().catch(() => undefined);
  }, [loadAddenda]);

  return (
    <Stack gap="sm">
      <Signatures note={note} />
      <Sections note={note} level={level} />
      {addenda.length > 0 && (
        <Stack gap="xs">
          <Title order={level} size="h5">
            Addenda
          </Title>
          {addenda.map((a) => (
            <Paper key={a.id} withBorder p="sm" component="article" aria-label={`Addendum of ${dateTime(a.date)}`}>
              <Text size="sm" fw={600}>
                Addendum by <Person reference={a.author?.[0]?.reference} />, {dateTime(a.date)}
              </Text>
              <Sections note={a} level={(level + 1) as 4 | 5} />
              <Signatures note={a} />
              {!isSigned(a) && a.author?.some((x) => x.reference === fhirUser) && <SignButton note={a} onSigned={() => void loadAddenda()} label="Sign addendum" />}
            </Paper>
          ))}
        </Stack>
      )}
      {isSigned(note) && props.allowAddendum !== false && fhirUser?.startsWith('Practitioner/') && (
        <AddendumForm
          note={note}
          onAdded={() => {
            void loadAddenda();
            props.onChanged?.();
          }}
        />
      )}
    </Stack>
  );
}

function Sections({ note, level }: { note: Composition; level: 3 | 4 | 5 }) {
  return (
    <Stack gap="xs">
      {(note.section ?? []).map((s, i) => {
        const key = sectionKeyOf(s);
        const text = sectionText(s);
        return (
          <div key={i}>
            <Title order={level} size="h6">
              {key ? SECTION[key].title : s.title ?? 'Section'}
            </Title>
            <Text style={{ whiteSpace: 'pre-wrap' }} c={text ? undefined : 'dimmed'}>
              {text || 'Not written.'}
            </Text>
          </div>
        );
      })}
    </Stack>
  );
}

function SignButton(props: { note: Composition; onSigned: () => void; label: string }) {
  const { fetch, signInAgain } = useSmart();
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  return (
    <Stack gap="xs" mt="xs">
      {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
      <div>
        <Button
          size="sm"
          loading={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await signing(fetch, props.note.id!, '$sign');
              props.onSigned();
            } catch (e) {
              setProblem(problemFrom(e));
            } finally {
              setBusy(false);
            }
          }}
        >
          {props.label}
        </Button>
      </div>
    </Stack>
  );
}

/**
 * An addendum: a new Composition that `appends` to the signed note, written and signed in one go
 * (the note itself stays locked on the server). The typed text is kept on this device until signed.
 */
function AddendumForm(props: { note: Composition; onAdded: () => void }) {
  const { medplum, fetch, fhirUser, signInAgain } = useSmart();
  const noteId = props.note.id!;
  const kept = loadAddendum(noteId);
  const [open, setOpen] = useState(Boolean(kept));
  const [section, setSection] = useState<SectionKey>((kept?.section as SectionKey) ?? 'assessment');
  const [text, setText] = useState(kept?.text ?? '');
  const [problem, setProblem] = useState<Problem>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string>();
  const id = useId();

  const update = (s: SectionKey, t: string) => {
    setSection(s);
    setText(t);
    setError(undefined);
    keepAddendum(noteId, { section: s, text: t });
  };

  if (!open) {
    return (
      <Group>
        <Button variant="default" onClick={() => setOpen(true)}>
          Add addendum
        </Button>
        {done && (
          <Text role="status" fw={600}>
            {done}
          </Text>
        )}
      </Group>
    );
  }

  const submit = async () => {
    if (!text.trim()) {
      setError('Write the addendum before signing it.');
      return;
    }
    setBusy(true);
    const addendum = buildAddendum({ note: props.note, author: fhirUser!, section, text });
    let created: Composition | undefined;
    try {
      created = await medplum.createResource<Composition>(addendum);
      await signing(fetch, created.id!, '$sign');
      dropAddendum(noteId);
      setText('');
      setOpen(false);
      setProblem(undefined);
      setDone('Addendum signed.');
      props.onAdded();
    } catch (e) {
      const p = problemFrom(e);
      const named = p.issues.find((i) => sectionOfExpression(i.expression, addendum));
      if (named) setError(named.message);
      setProblem(created ? { ...p, message: `The addendum was saved but not signed: ${p.message}` } : p);
      if (created) props.onAdded();
    } finally {
      setBusy(false);
    }
  };

  return (
    <Paper withBorder p="sm" component="section" aria-labelledby={`${id}-title`}>
      <Divider mb="xs" />
      <Title order={3} size="h5" id={`${id}-title`}>
        New addendum
      </Title>
      <Text size="sm" mb="xs">
        A signed note cannot change. An addendum is a new, separately signed entry attached to it.
      </Text>
      <Stack gap="xs">
        {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
        <NativeSelect
          label="Adds to section"
          value={section}
          onChange={(e) => update(e.currentTarget.value as SectionKey, text)}
          data={SOAP_KEYS.map((k) => ({ value: k, label: SECTION[k].title }))}
        />
        <Textarea label="Addendum" value={text} onChange={(e) => update(section, e.currentTarget.value)} error={error} autosize minRows={3} />
        <Group>
          <Button onClick={() => void submit()} loading={busy}>
            Sign addendum
          </Button>
          <Button variant="default" onClick={() => setOpen(false)} disabled={busy}>
            Close
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}


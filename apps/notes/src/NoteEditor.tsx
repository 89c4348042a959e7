import { Alert, Badge, Button, Group, Loader, Paper, Stack, Text, Textarea, Title } from '@mantine/core';
import type { Composition, DocumentReference, Observation, Reference } from '@medplum/fhirtypes';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useSmart } from '../../shared/mount.tsx';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { dateTime, signing } from './api.ts';
import { BADGE } from './colors.ts';
import { dropDraft, keepDraft, loadDraft } from './drafts.ts';
import {
  PROGRESS_NOTE,
  SECTION,
  SOAP_KEYS,
  type SectionKey,
  type SectionTexts,
  buildNote,
  divToText,
  emptyTexts,
  isAddendum,
  isSigned,
  sectionKeyOf,
  sectionOfExpression,
  textsOf,
} from './note.ts';
import { ProblemAlert } from './ProblemAlert.tsx';
import { NoteView } from './NoteView.tsx';
import { type ContextData, bandText, instrumentName, scoreValue } from './VisitContext.tsx';

type SectionErrors = Partial<Record<SectionKey, string>>;

/** The psychotherapy notes the server split off this note (a restricted DocumentReference), as text. */
async function loadPsychotherapy(search: (q: string) => Promise<DocumentReference[]>, noteId: string): Promise<string> {
  const docs = await search(
    `DocumentReference?related=Composition/${noteId}&type=${encodeURIComponent(`${SECTION.psychotherapy.system}|${SECTION.psychotherapy.code}`)}&_count=1`
  );
  const data = docs[0]?.content?.[0]?.attachment?.data;
  if (!data) return '';
  const html = new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  const doc = new DOMParser().parseFromString(html, 'text/html');
  return [...doc.querySelectorAll('section')].map((s) => divToText(s.querySelector('div')?.outerHTML)).join('\n');
}

export function NoteEditor(props: { patientId: string; encounterId: string; context?: ContextData; onChanged: () => void }) {
  const { medplum, fetch, fhirUser, signInAgain } = useSmart();
  const { patientId, encounterId } = props;
  const [loading, setLoading] = useState(true);
  const [note, setNote] = useState<Composition>();
  const [texts, setTexts] = useState<SectionTexts>(emptyTexts);
  const [dirty, setDirty] = useState(false);
  const [restored, setRestored] = useState(false);
  const [busy, setBusy] = useState<'save' | 'sign'>();
  const [problem, setProblem] = useState<Problem>();
  const [sectionErrors, setSectionErrors] = useState<SectionErrors>({});
  const [status, setStatus] = useState<string>();
  const noteRef = useRef<Composition | undefined>(undefined);
  noteRef.current = note;

  const search = useCallback(async <T,>(q: string): Promise<T[]> => (await medplum.searchResources(q.split('?')[0] as never, q.split('?')[1])) as T[], [medplum]);

  // The note of this visit: the clinician's own progress note (not an addendum), or another's to read.
  useEffect(() => {
    let live = true;
    setLoading(true);
    (async () => {
      const notes = await search<Composition>(`Composition?encounter=Encounter/${encounterId}&type=${encodeURIComponent(`${PROGRESS_NOTE.system}|${PROGRESS_NOTE.code}`)}&_sort=-date&_count=20`);
      const main = notes.filter((n) => !isAddendum(n) && n.status !== 'entered-in-error');
      const found = main.find((n) => n.author?.some((a) => a.reference === fhirUser)) ?? main[0];
      let stored = found ? textsOf(found) : emptyTexts();
      if (found?.id && !isSigned(found)) stored = { ...stored, psychotherapy: await loadPsychotherapy(search, found.id).catch(() => '') };
      if (!live) return;
      setNote(found);
      const local = loadDraft(patientId, encounterId);
      if (local && (!found || (!isSigned(found) && (!local.noteId || local.noteId === found.id)))) {
        setTexts(local.texts);
        setDirty(true);
        setRestored(true);
      } else {
        if (local) dropDraft(patientId, encounterId);
        setTexts(stored);
      }
    })()
      .catch((e: unknown) => live && setProblem(problemFrom(e)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [encounterId, patientId, fhirUser, search]);

  // Every keystroke is kept on this device until the server has it.
  useEffect(() => {
    if (dirty) keepDraft(patientId, encounterId, { texts, noteId: noteRef.current?.id, at: new Date().toISOString() });
  }, [dirty, texts, patientId, encounterId]);

  const mine = !note || note.author?.some((a) => a.reference === fhirUser);
  const signed = note ? isSigned(note) : false;

  const change = (key: SectionKey, value: string) => {
    setTexts((t) => ({ ...t, [key]: value }));
    setDirty(true);
    setStatus(undefined);
    setSectionErrors((e) => ({ ...e, [key]: undefined }));
  };

  const planEntries = (): Reference[] =>
    (props.context?.plans ?? []).flatMap((p) => [{ reference: `CarePlan/${p.id}` }, ...(p.goal ?? []).filter((g) => g.reference)]);

  const refused = (e: unknown, sent: Composition | undefined) => {
    const p = problemFrom(e);
    const bySection: SectionErrors = {};
    const rest: Problem['issues'] = [];
    for (const issue of p.issues) {
      const key = sectionOfExpression(issue.expression, sent);
      if (key) bySection[key] = [bySection[key], issue.message].filter(Boolean).join(' ');
      else rest.push(issue);
    }
    setSectionErrors(bySection);
    // The server's lock on a signed note (note-hook.ts names Composition.status), in plain words.
    if (rest.some((i) => i.expression === 'Composition.status')) {
      setProblem({
        ...p,
        message: 'This note has been signed in the meantime (perhaps in another window), so it can no longer change. Your text is still here: add what is missing as an addendum.',
        issues: [],
      });
      return;
    }
    const named = Object.keys(bySection).length > 0;
    setProblem(named && rest.length === 0 ? { ...p, message: 'The note was not saved: see the sections marked below. Your text is kept.' } : { ...p, issues: rest });
  };

  const save = async (): Promise<Composition | undefined> => {
    if (!fhirUser) return undefined;
    const draft = buildNote({ existing: noteRef.current, patientId, encounterId, author: fhirUser, texts, planEntries: planEntries() });
    try {
      const saved = draft.id ? await medplum.updateResource<Composition>(draft) : await medplum.createResource<Composition>(draft);
      setNote(saved);
      noteRef.current = saved;
      setDirty(false);
      setRestored(false);
      setProblem(undefined);
      setSectionErrors({});
      dropDraft(patientId, encounterId);
      return saved;
    } catch (e) {
      refused(e, draft);
      return undefined;
    }
  };

  const onSave = async () => {
    setBusy('save');
    setStatus(undefined);
    const saved = await save();
    setBusy(undefined);
    if (saved) {
      setStatus(`Draft saved ${dateTime(saved.meta?.lastUpdated)}.`);
      props.onChanged();
    }
  };

  const onSign = async () => {
    const empty = SOAP_KEYS.filter((k) => !texts[k].trim());
    if (empty.length) {
      setSectionErrors(Object.fromEntries(empty.map((k) => [k, `Write the ${SECTION[k].title} before signing.`])));
      setProblem({ kind: 'refused', message: 'A signed note needs all four SOAP sections. Your text is kept.', issues: [] });
      return;
    }
    setBusy('sign');
    setStatus(undefined);
    const saved = await save();
    if (saved?.id) {
      try {
        const s = await signing(fetch, saved.id, '$sign');
        setNote(s);
        setStatus(`Signed ${dateTime(s.attester?.find((a) => a.mode === 'legal')?.time)}.`);
        dropDraft(patientId, encounterId);
        props.onChanged();
      } catch (e) {
        refused(e, saved);
      }
    }
    setBusy(undefined);
  };

  if (loading) return <Loader aria-label="Loading the note" />;

  const linkedScores = (note?.section ?? [])
    .filter((s) => sectionKeyOf(s) === 'assessment')
    .flatMap((s) => s.entry ?? [])
    .filter((r) => r.reference?.startsWith('Observation/'))
    .map((r) => props.context?.scores.find((o) => `Observation/${o.id}` === r.reference) ?? ({ id: r.reference } as Observation));

  return (
    <Stack gap="md">
      <Group justify="space-between" wrap="wrap">
        <Title order={2} size="h3">
          Progress note
        </Title>
        <Badge size="lg" variant="filled" color={signed ? BADGE.green : BADGE.blue}>
          {signed ? 'Signed' : note ? 'Draft' : 'New note'}
        </Badge>
      </Group>
      {problem && <ProblemAlert problem={problem} onSignIn={signInAgain} />}
      {restored && (
        <Alert color="blue" title="Unsaved text restored">
          This text was kept on this device since your last save. Save the draft to store it on the server.
        </Alert>
      )}
      {status && (
        <Text role="status" fw={600}>
          {status}
        </Text>
      )}
      {signed || !mine ? (
        <>
          {!mine && !signed && <Text>This draft belongs to another clinician; only its author can change or sign it.</Text>}
          {note && <NoteView note={note} onChanged={props.onChanged} />}
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void onSave();
          }}
        >
          <Stack gap="md">
            {SOAP_KEYS.map((k) => (
              <Textarea
                key={k}
                label={SECTION[k].title}
                description={SECTION[k].hint}
                value={texts[k]}
                onChange={(e) => change(k, e.currentTarget.value)}
                error={sectionErrors[k]}
                autosize
                minRows={3}
                maxRows={16}
              />
            ))}
            {linkedScores.length > 0 && (
              <Text size="sm">
                Scores of this visit linked to the Assessment by the server:{' '}
                {linkedScores.map((o) => (o.valueQuantity ? `${instrumentName(o)} ${scoreValue(o)} (${bandText(o)})` : o.id)).join('; ')}
              </Text>
            )}
            <Paper p="md" withBorder component="section" aria-labelledby="restricted-title" style={{ borderColor: 'var(--mantine-color-red-9)', borderWidth: 2 }} bg="red.0">
              <Group gap="xs" mb="xs">
                <Badge color={BADGE.red} variant="filled">
                  Restricted
                </Badge>
                <Title order={3} size="h5" id="restricted-title">
                  {SECTION.psychotherapy.title}
                </Title>
              </Group>
              <Textarea
                label="Psychotherapy notes (restricted)"
                description={SECTION.psychotherapy.hint}
                value={texts.psychotherapy}
                onChange={(e) => change('psychotherapy', e.currentTarget.value)}
                error={sectionErrors.psychotherapy}
                autosize
                minRows={2}
                maxRows={12}
              />
            </Paper>
            <Group>
              <Button type="submit" variant="default" loading={busy === 'save'} disabled={Boolean(busy)}>
                Save draft
              </Button>
              <Button onClick={() => void onSign()} loading={busy === 'sign'} disabled={Boolean(busy)}>
                Sign note
              </Button>
              {dirty && <Text size="sm">Unsaved changes (kept on this device)</Text>}
            </Group>
          </Stack>
        </form>
      )}
    </Stack>
  );
}

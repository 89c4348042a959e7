import { Alert, Anchor, Box, Button, Group, List, Radio, Stack, Text, TextInput, Textarea, Title } from '@mantine/core';
import type { Questionnaire, QuestionnaireItem, QuestionnaireResponse, QuestionnaireResponseItemAnswer } from '@medplum/fhirtypes';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { dropDraft, keepDraft } from './draft.ts';
import type { Fhir } from './fhir.ts';
import {
  type Answers,
  allItems,
  answerFromOption,
  canonicalOf,
  isEnabled,
  isShown,
  linkIdOf,
  optionLabel,
  plainIssue,
  responseItems,
  sameValue,
  valueOf,
} from './questionnaire.ts';

/**
 * One questionnaire, rendered from its items (choice as radio groups in fieldsets, enableWhen,
 * required marked), saved as an in-progress QuestionnaireResponse and submitted as completed.
 * The response carries `questionnaire` = url|version, subject, source (who answered), authored,
 * and the answers only: no totals, no extensions (the server scores and validates). A refusal
 * shows the server's words next to the question it names and keeps every answer; a lost
 * session or network keeps the answers on this device until the server has them.
 */
export interface FormProps {
  fhir: Fhir;
  questionnaire: Questionnaire;
  patientId: string;
  person: string;
  taskId?: string;
  responseId?: string;
  initial: Answers;
  restored?: boolean;
  signInAgain: () => void;
  onSubmitted: (response: QuestionnaireResponse & { id: string }) => void;
  onBack: () => void;
}

type Saving = 'idle' | 'saving' | 'submitting';

export function QuestionnaireView(props: FormProps) {
  const { fhir, questionnaire } = props;
  const [answers, setAnswers] = useState<Answers>(props.initial);
  const [responseId, setResponseId] = useState<string | undefined>(props.responseId);
  const [saving, setSaving] = useState<Saving>('idle');
  const [savedAt, setSavedAt] = useState<string>();
  const [problem, setProblem] = useState<Problem>();
  const [itemErrors, setItemErrors] = useState<Record<string, string>>({});
  const [retryIn, setRetryIn] = useState<number>();
  const summaryRef = useRef<HTMLDivElement>(null);
  const retryRef = useRef<{ timer?: number; attempt: number; action?: 'save' | 'submit' }>({ attempt: 0 });
  const labels = useMemo(() => new Map(allItems(questionnaire.item).map((i) => [i.linkId, i.text ?? i.linkId])), [questionnaire]);

  const setAnswer = useCallback((linkId: string, value: QuestionnaireResponseItemAnswer[]) => {
    setAnswers((a) => ({ ...a, [linkId]: value }));
    setItemErrors((e) => {
      if (!e[linkId]) return e;
      const { [linkId]: _, ...rest } = e;
      return rest;
    });
  }, []);

  useEffect(() => () => window.clearTimeout(retryRef.current.timer), []);

  const send = useCallback(
    async (action: 'save' | 'submit') => {
      window.clearTimeout(retryRef.current.timer);
      setRetryIn(undefined);
      setSaving(action === 'save' ? 'saving' : 'submitting');
      setProblem(undefined);
      const paths = new Map<string, string>();
      const items = responseItems(questionnaire.item, answers, paths);
      const response: QuestionnaireResponse = {
        resourceType: 'QuestionnaireResponse',
        ...(responseId ? { id: responseId } : {}),
        questionnaire: canonicalOf(questionnaire),
        status: action === 'save' ? 'in-progress' : 'completed',
        subject: { reference: `Patient/${props.patientId}` },
        source: { reference: props.person },
        authored: new Date().toISOString(),
        // A draft saved before any answer has no items: FHIR JSON has no empty arrays.
        ...(items.length ? { item: items } : {}),
      };
      try {
        const saved = (responseId ? await fhir.update(response) : await fhir.create(response)) as QuestionnaireResponse & { id: string };
        setResponseId(saved.id);
        dropDraft(props.person, props.patientId);
        retryRef.current.attempt = 0;
        setItemErrors({});
        if (action === 'submit') {
          props.onSubmitted(saved);
          return;
        }
        setSavedAt(new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
      } catch (e) {
        const p = problemFrom(e);
        if (p.kind === 'session' || p.kind === 'network') {
          keepDraft(props.person, props.patientId, { questionnaire: canonicalOf(questionnaire), responseId, taskId: props.taskId, answers });
        }
        if (p.kind === 'network') {
          // Try again by itself, backing off (2 s, 4 s … 60 s); the person can also try now.
          const r = retryRef.current;
          const wait = Math.min(60, 2 ** ++r.attempt);
          r.action = action;
          setRetryIn(wait);
          r.timer = window.setTimeout(() => void sendRef.current?.(action), wait * 1000);
        }
        if (p.kind === 'refused') {
          const byItem: Record<string, string> = {};
          for (const issue of p.issues) {
            const linkId = linkIdOf(issue.expression, paths);
            if (linkId && !byItem[linkId]) byItem[linkId] = plainIssue(issue.message);
          }
          setItemErrors(byItem);
        }
        setProblem(p);
        window.setTimeout(() => summaryRef.current?.focus(), 0);
      } finally {
        setSaving('idle');
      }
    },
    [answers, fhir, props, questionnaire, responseId]
  );
  const sendRef = useRef(send);
  sendRef.current = send;

  const errorLinks = Object.entries(itemErrors);
  const title = questionnaire.title ?? questionnaire.name ?? 'Questionnaire';
  return (
    <Box>
      <Anchor component="button" type="button" onClick={props.onBack} mb="sm">
        Back to your list
      </Anchor>
      <Title order={1} size="h2" mb="xs">
        {title}
      </Title>
      <Text mb="md">Questions marked (required) need an answer before you submit. You can save and finish later.</Text>
      {props.restored && !problem && (
        <Alert color="blue" mb="md" title="Your answers were kept">
          We kept the answers you gave before you signed in again. Check them, then save or submit.
        </Alert>
      )}
      <div ref={summaryRef} tabIndex={-1} aria-live="assertive">
        {problem && (
          <Alert color="red" mb="md" title={problemTitle(problem)} role="alert">
            <Stack gap={6}>
              <Text size="sm">{problemText(problem)}</Text>
              {errorLinks.length > 0 && (
                <List size="sm">
                  {errorLinks.map(([linkId, message]) => (
                    <List.Item key={linkId}>
                      <Anchor href={`#q-${cssId(linkId)}`} c="inherit" underline="always" fw={700}>
                        {labels.get(linkId)}
                      </Anchor>: {message}
                    </List.Item>
                  ))}
                </List>
              )}
              {problem.kind === 'session' && (
                <Group>
                  <Button onClick={props.signInAgain}>Sign in again</Button>
                </Group>
              )}
              {problem.kind === 'network' && (
                <Group>
                  <Text size="sm">{retryIn ? `Trying again in ${retryIn} seconds.` : ''}</Text>
                  <Button onClick={() => void send(retryRef.current.action ?? 'save')}>
                    Try again now
                  </Button>
                </Group>
              )}
            </Stack>
          </Alert>
        )}
      </div>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void send('submit');
        }}
      >
        <Stack gap="lg">
          {(questionnaire.item ?? []).map((item) => (
            <ItemView key={item.linkId} item={item} answers={answers} setAnswer={setAnswer} errors={itemErrors} />
          ))}
        </Stack>
        <Group mt="xl" gap="sm" wrap="wrap">
          <Button type="submit" loading={saving === 'submitting'} disabled={saving !== 'idle'} size="md">
            Submit
          </Button>
          <Button type="button" variant="outline" loading={saving === 'saving'} disabled={saving !== 'idle'} onClick={() => void send('save')} size="md">
            Save and finish later
          </Button>
        </Group>
        <Text role="status" size="sm" mt="xs" c="dimmed">
          {savedAt ? `Saved at ${savedAt}. You can come back to it later.` : ''}
        </Text>
      </form>
    </Box>
  );
}

function problemTitle(p: Problem): string {
  switch (p.kind) {
    case 'refused':
      return 'Some answers need attention';
    case 'session':
      return 'Your session has ended';
    case 'network':
      return 'No connection';
    default:
      return 'Not saved';
  }
}

function problemText(p: Problem): string {
  switch (p.kind) {
    case 'refused':
      return p.issues.length ? 'The answers were not sent. Please look at the questions marked below; everything you entered is still here.' : p.message;
    case 'session':
      return 'Your answers are kept on this device. Sign in again and they will be here.';
    case 'network':
      return 'We cannot reach the server. Your answers are kept on this device and we will keep trying.';
    default:
      return `${p.message} Your answers are still here.`;
  }
}

const cssId = (linkId: string): string => linkId.replace(/[^A-Za-z0-9_-]/g, '_');

function ItemView(props: { item: QuestionnaireItem; answers: Answers; setAnswer: (linkId: string, a: QuestionnaireResponseItemAnswer[]) => void; errors: Record<string, string> }) {
  const { item, answers, setAnswer, errors } = props;
  if (!isShown(item) || !isEnabled(item, answers)) return null;
  const id = `q-${cssId(item.linkId)}`;
  const prefix = item.prefix && /^\d+$/.test(item.prefix) ? `${item.prefix}.` : item.prefix;
  const label = [prefix, item.text].filter(Boolean).join(' ');
  const error = errors[item.linkId];
  const errorId = `${id}-error`;
  if (item.type === 'display') return <Text id={id}>{label}</Text>;
  if (item.type === 'group') {
    return (
      <fieldset id={id} className="bh-fieldset">
        {label && <legend className="bh-legend">{label}</legend>}
        <Stack gap="lg">
          {(item.item ?? []).map((child) => (
            <ItemView key={child.linkId} {...props} item={child} />
          ))}
        </Stack>
      </fieldset>
    );
  }
  const required = item.required ? <Text span size="sm" c="dimmed" fw={400}> (required)</Text> : null;
  const errorText = error ? (
    <Text id={errorId} c="red.9" size="sm" fw={700} mt={4}>
      {error}
    </Text>
  ) : null;
  const given = answers[item.linkId] ?? [];
  const options =
    item.type === 'boolean'
      ? [
          { valueBoolean: true, label: 'Yes' },
          { valueBoolean: false, label: 'No' },
        ].map((o) => ({ answer: { valueBoolean: o.valueBoolean } as QuestionnaireResponseItemAnswer, label: o.label }))
      : (item.answerOption ?? []).map((o) => ({ answer: answerFromOption(o), label: optionLabel(o) }));
  if (options.length) {
    return (
      <fieldset id={id} className="bh-fieldset" aria-describedby={error ? errorId : undefined} data-invalid={error ? 'true' : undefined}>
        <legend className="bh-legend">
          {label}
          {required}
        </legend>
        {errorText}
        <Stack gap={10} mt="xs">
          {options.map((o, i) => (
            <Radio
              key={i}
              name={id}
              value={String(i)}
              label={o.label}
              checked={given.some((g) => sameValue(g, o.answer))}
              onChange={() => setAnswer(item.linkId, [o.answer])}
              size="md"
            />
          ))}
        </Stack>
      </fieldset>
    );
  }
  const text = (v: QuestionnaireResponseItemAnswer | undefined): string => {
    const x = v && valueOf(v)?.[1];
    return x === undefined || x === null ? '' : String(x);
  };
  const common = {
    id,
    label: (
      <>
        {label}
        {required}
      </>
    ),
    error: error ?? undefined,
    value: text(given[0]),
  };
  switch (item.type) {
    case 'text':
      return <Textarea {...common} autosize minRows={3} onChange={(e) => setAnswer(item.linkId, e.currentTarget.value ? [{ valueString: e.currentTarget.value }] : [])} />;
    case 'integer':
    case 'decimal':
      return (
        <TextInput
          {...common}
          type="number"
          inputMode={item.type === 'integer' ? 'numeric' : 'decimal'}
          maw={200}
          onChange={(e) => {
            const raw = e.currentTarget.value;
            const n = item.type === 'integer' ? Number.parseInt(raw, 10) : Number.parseFloat(raw);
            setAnswer(item.linkId, raw === '' || Number.isNaN(n) ? [] : [item.type === 'integer' ? { valueInteger: n } : { valueDecimal: n }]);
          }}
        />
      );
    case 'date':
      return <TextInput {...common} type="date" maw={220} onChange={(e) => setAnswer(item.linkId, e.currentTarget.value ? [{ valueDate: e.currentTarget.value }] : [])} />;
    default:
      return <TextInput {...common} onChange={(e) => setAnswer(item.linkId, e.currentTarget.value ? [{ valueString: e.currentTarget.value }] : [])} />;
  }
}

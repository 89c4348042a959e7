import { Badge, Box, Button, Group, List, Paper, Radio, Select, Stack, Text, Textarea, Title } from '@mantine/core';
import type { OperationOutcome, PractitionerRole, Task } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { useSmart } from '../../shared/mount.tsx';
import { personName, useReferenceName } from '../../shared/names.ts';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import {
  type LadderPerson,
  OUTCOMES,
  PRIORITY_TEXT,
  RISK_ESCALATION_SYSTEM,
  type RiskItem,
  WAITING,
  accepted,
  deadlineOf,
  escalated,
  escalationNotice,
  historyOf,
  isOverdue,
  ladderPeople,
  ladderQuery,
  nextRung,
  outcomeOf,
  playbooksOf,
  screensOf,
  triggersOf,
  withOutcome,
} from './risk.ts';
import { Notice } from './Notice.tsx';
import { formatTime, relative } from './time.ts';

/**
 * Every write names the version it was based on (If-Match): if the server escalated the Task, or
 * someone else accepted or handed it over meanwhile, the write is refused (412) instead of
 * silently undoing their change.
 */
const ifMatch = (task: Task) => (task.meta?.versionId ? { headers: { 'If-Match': `W/"${task.meta.versionId}"` } } : undefined);

function staleOr(e: unknown, reload: () => void): Problem {
  const code = (e as { outcome?: OperationOutcome })?.outcome?.issue?.[0]?.code;
  if (code !== 'conflict') return problemFrom(e);
  reload();
  return {
    kind: 'refused',
    message: 'This task changed while you had it open (escalated, accepted or updated by someone else). It has been reloaded: check it and try again.',
    issues: [],
  };
}

const STATUS_TEXT: Record<string, string> = {
  requested: 'Waiting for acknowledgement',
  received: 'Waiting for acknowledgement',
  ready: 'Waiting for acknowledgement',
  accepted: 'Accepted',
  'in-progress': 'In progress',
};

/** The risk Tasks, most pressing first; each a card with its facts and its actions. */
export function RiskTasks(props: { items: RiskItem[]; now: Date; onChanged: (message: string) => void; reload: () => void }) {
  return (
    <Box component="section" aria-labelledby="risk-tasks-heading" mb="xl">
      <Title order={2} id="risk-tasks-heading" size="h3" mb="sm">
        Risk tasks
      </Title>
      {props.items.length === 0 ? (
        <Text>No open risk tasks.</Text>
      ) : (
        <Stack component="ul" gap="md" p={0} m={0} style={{ listStyle: 'none' }} aria-label="Open risk tasks">
          {props.items.map((item) => (
            <li key={item.task.id}>
              <RiskCard item={item} now={props.now} onChanged={props.onChanged} reload={props.reload} />
            </li>
          ))}
        </Stack>
      )}
    </Box>
  );
}

function RiskCard(props: { item: RiskItem; now: Date; onChanged: (message: string) => void; reload: () => void }) {
  const { medplum, fhirUser } = useSmart();
  const { task, patient } = props.item;
  const me = fhirUser ?? '';
  const owner = useReferenceName(task.owner);
  const patientName = patient ? personName(patient.name) : 'Patient';
  const overdue = isOverdue(task, props.now);
  const deadline = deadlineOf(task);
  const waiting = WAITING.has(task.status);
  const mine = task.owner?.reference === me;
  const [busy, setBusy] = useState<string>();
  const [problem, setProblem] = useState<Problem>();
  const [panel, setPanel] = useState<'outcome' | 'escalate'>();
  const headingId = `risk-${task.id}`;
  const triggers = triggersOf(task);
  const playbooks = playbooksOf(task);
  const history = historyOf(task);
  const outcome = outcomeOf(task);
  const step = task.businessStatus?.coding?.find((c) => c.system === RISK_ESCALATION_SYSTEM)?.code;
  const escalation = step && step !== 'assigned' ? task.businessStatus?.text : undefined;

  const save = async (label: string, next: Task, done: string) => {
    setBusy(label);
    setProblem(undefined);
    try {
      await medplum.updateResource(next, ifMatch(task));
      props.onChanged(done);
      return true;
    } catch (e) {
      setProblem(staleOr(e, props.reload));
      return false;
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <Paper withBorder p="md" component="article" aria-labelledby={headingId} style={overdue ? { borderColor: 'var(--mantine-color-red-9)', borderWidth: 2 } : undefined}>
      <Group justify="space-between" align="flex-start" wrap="wrap" gap="xs">
        <Title order={3} size="h4" id={headingId}>
          {patientName}
        </Title>
        <Group gap="xs">
          <Badge color={task.priority === 'routine' ? 'gray.8' : 'red.9'} variant="filled">
            Priority: {PRIORITY_TEXT[task.priority ?? ''] ?? task.priority ?? 'unknown'}
          </Badge>
          <Badge color="gray.8" variant="outline">
            {STATUS_TEXT[task.status] ?? task.status}
          </Badge>
        </Group>
      </Group>
      <Stack gap={4} mt="xs">
        <Text>
          Owner: {owner ?? task.owner?.display ?? task.owner?.reference ?? 'Unassigned'}
          {mine ? ' (you)' : ''}
        </Text>
        {deadline && waiting && (
          <Text c={overdue ? 'red.9' : undefined} fw={overdue ? 700 : undefined}>
            {overdue ? `⚠ Overdue: acknowledgement was due ${formatTime(deadline)} (${relative(deadline, props.now)})` : `Acknowledge by ${formatTime(deadline)} (${relative(deadline, props.now)})`}
          </Text>
        )}
        {escalation && <Text size="sm">Escalation: {escalation}</Text>}
        {task.authoredOn && <Text size="sm">Raised {formatTime(new Date(task.authoredOn))}</Text>}
      </Stack>

      {triggers.length > 0 && (
        <Box mt="sm">
          <Title order={4} size="h5">
            Triggering answers
          </Title>
          <List size="sm" spacing={2}>
            {triggers.map((t, i) => (
              <List.Item key={i}>
                {t.question}: <strong>{t.answer}</strong>
                {t.rule ? ` (rule: ${t.rule})` : ''}
              </List.Item>
            ))}
          </List>
          {screensOf(task).length > 0 && (
            <Text size="sm" c="dimmed">
              From: {screensOf(task).map((s) => s.label).join('; ')}
            </Text>
          )}
        </Box>
      )}

      {playbooks.length > 0 && (
        <Box mt="sm">
          <Title order={4} size="h5">
            Playbook
          </Title>
          {playbooks.map((p, i) => (
            <Text key={i} size="sm">
              {p.replace(/^Playbook for [^:]+:\s*/, '')}
            </Text>
          ))}
        </Box>
      )}

      {outcome && (
        <Text mt="sm" size="sm">
          Outcome documented: <strong>{outcome.label}</strong>. {outcome.text}
        </Text>
      )}

      {history.length > 0 && (
        <Box component="details" mt="sm">
          <Box component="summary" style={{ cursor: 'pointer' }}>
            History ({history.length})
          </Box>
          <List size="sm" spacing={2} mt={4}>
            {history.map((h, i) => (
              <List.Item key={i}>
                {h.time ? `${formatTime(new Date(h.time))}: ` : ''}
                {h.text}
              </List.Item>
            ))}
          </List>
        </Box>
      )}

      {problem && !panel && (
        <Notice title="Not saved" mt="sm">
          {problem.message}
        </Notice>
      )}

      {waiting && !mine && (
        <Text size="sm" mt="sm" id={`takeover-${task.id}`}>
          Accepting makes you the owner of this task.
        </Text>
      )}
      <Group mt="md" gap="sm" wrap="wrap">
        {waiting && (
          <Button
            loading={busy === 'accept'}
            disabled={Boolean(busy)}
            onClick={() => void save('accept', accepted(task, me, new Date()), `Accepted the risk task for ${patientName}.`)}
            aria-describedby={mine ? headingId : `${headingId} takeover-${task.id}`}
          >
            Accept
          </Button>
        )}
        {!waiting && (
          <Button variant={panel === 'outcome' ? 'filled' : 'outline'} onClick={() => setPanel(panel === 'outcome' ? undefined : 'outcome')} aria-expanded={panel === 'outcome'} aria-describedby={headingId}>
            Document outcome
          </Button>
        )}
        <Button variant="outline" color="red.9" onClick={() => setPanel(panel === 'escalate' ? undefined : 'escalate')} aria-expanded={panel === 'escalate'} aria-describedby={headingId}>
          Escalate
        </Button>
      </Group>

      {panel === 'outcome' && !waiting && (
        <OutcomeForm
          task={task}
          patientName={patientName}
          busy={busy}
          problem={problem}
          onSave={(o, close) => save(close ? 'close' : 'outcome', withOutcome(task, me, o, close, new Date()), close ? `Closed the risk task for ${patientName}.` : `Saved the outcome for ${patientName}.`)}
        />
      )}
      {panel === 'escalate' && (
        <EscalateForm
          task={task}
          patientName={patientName}
          reload={props.reload}
          onDone={(m) => {
            setPanel(undefined);
            props.onChanged(m);
          }}
        />
      )}
    </Paper>
  );
}

/**
 * The outcome, as the server requires it to close (hooks.ts): one of the risk-outcome codes and
 * what was done. What the person typed stays when the server refuses; its words show next to
 * the field it names.
 */
function OutcomeForm(props: { task: Task; patientName: string; busy?: string; problem?: Problem; onSave: (o: { code: string; text: string }, close: boolean) => Promise<boolean> }) {
  const existing = outcomeOf(props.task);
  const [code, setCode] = useState(existing?.code ?? '');
  const [text, setText] = useState(existing?.text ?? '');
  const [missing, setMissing] = useState<{ code?: string; text?: string }>({});
  const id = props.task.id;
  const issues = props.problem?.issues ?? [];
  const outputIssue = issues.find((i) => i.expression?.startsWith('Task.output') || i.expression?.startsWith('Task.statusReason'))?.message;
  const otherIssue = props.problem && !outputIssue ? props.problem.message : undefined;
  const hint = OUTCOMES.find((o) => o.code === code)?.hint ?? 'What you did and what happens next.';

  const submit = (close: boolean) => {
    const m = { code: code ? undefined : 'Choose the outcome.', text: text.trim() ? undefined : code === 'unable-to-reach' ? 'List the attempts to reach the patient.' : 'Say what was done.' };
    setMissing(m);
    if (m.code || m.text) return;
    void props.onSave({ code, text: text.trim() }, close);
  };

  return (
    <Box component="form" mt="md" aria-label={`Outcome for ${props.patientName}`} onSubmit={(e) => { e.preventDefault(); submit(true); }}>
      <Radio.Group
        name={`outcome-${id}`}
        label="Outcome"
        value={code}
        onChange={(v) => {
          setCode(v);
          setMissing((m) => ({ ...m, code: undefined }));
        }}
        withAsterisk
        error={missing.code ?? outputIssue}
      >
        <Stack gap={6} mt={6}>
          {OUTCOMES.map((o) => (
            <Radio key={o.code} value={o.code} label={o.label} />
          ))}
        </Stack>
      </Radio.Group>
      <Textarea mt="sm" label="What was done" description={hint} value={text}
        onChange={(e) => {
          setText(e.currentTarget.value);
          setMissing((m) => ({ ...m, text: undefined }));
        }}
        autosize
        minRows={3}
        withAsterisk
        error={missing.text}
      />
      {otherIssue && (
        <Notice title="Not saved" mt="sm">
          {otherIssue}
        </Notice>
      )}
      <Group mt="sm" gap="sm">
        <Button variant="outline" loading={props.busy === 'outcome'} disabled={Boolean(props.busy)} onClick={() => submit(false)}>
          Save outcome
        </Button>
        <Button type="submit" loading={props.busy === 'close'} disabled={Boolean(props.busy)}>
          Close task
        </Button>
      </Group>
    </Box>
  );
}

/**
 * Escalation by hand: the server escalates by itself only at the deadline (escalation.ts), so the
 * app hands the Task over to the person chosen from the rota's ladder (backup on call, supervisor,
 * clinic lead; the next rung preselected), notes why on the Task, and sends them a Communication.
 */
function EscalateForm(props: { task: Task; patientName: string; reload: () => void; onDone: (message: string) => void }) {
  const { medplum, fhirUser } = useSmart();
  const me = fhirUser ?? '';
  const [people, setPeople] = useState<LadderPerson[]>();
  const [choice, setChoice] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState<{ who?: string; reason?: string }>({});
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const id = props.task.id;

  const task = props.task;
  useEffect(() => {
    let live = true;
    medplum.search('PractitionerRole', ladderQuery).then(
      (b) => {
        if (!live) return;
        const list = ladderPeople((b.entry ?? []).map((e) => e.resource as PractitionerRole), me, new Date());
        setPeople(list);
        const next = list.find((p) => p.rung === nextRung(task)) ?? list[0];
        if (next) setChoice(`${next.rung}|${next.reference}`);
      },
      (e: unknown) => live && setProblem(problemFrom(e))
    );
    return () => {
      live = false;
    };
    // The ladder is read once per opening of the form.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [medplum, me]);

  const submit = async () => {
    const to = people?.find((p) => `${p.rung}|${p.reference}` === choice);
    const m = { who: to ? undefined : 'Choose whom to escalate to.', reason: reason.trim() ? undefined : 'Say why you escalate.' };
    setMissing(m);
    if (!to || m.reason) return;
    setBusy(true);
    setProblem(undefined);
    const now = new Date();
    try {
      await medplum.updateResource(escalated(props.task, me, to, reason.trim(), now), ifMatch(props.task));
    } catch (e) {
      setProblem(staleOr(e, props.reload));
      setBusy(false);
      return;
    }
    try {
      await medplum.createResource(escalationNotice(props.task, me, to, reason.trim(), now));
      props.onDone(`Escalated the risk task for ${props.patientName} to ${to.display} (${to.rungLabel.toLowerCase()}).`);
    } catch (e) {
      props.onDone(`Escalated the risk task for ${props.patientName} to ${to.display}, but the message to them could not be sent (${problemFrom(e).message}). Tell them directly.`);
    }
  };

  return (
    <Box component="form" mt="md" aria-label={`Escalate the risk task for ${props.patientName}`} onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      {!people && !problem && <Text>Loading the escalation ladder…</Text>}
      {people && people.length === 0 && <Text>Nobody else is on the escalation ladder (backup on call, supervisor, clinic lead). Call your clinic lead.</Text>}
      {people && people.length > 0 && (
        <>
          <Select
            id={`escalate-to-${id}`}
            label="Escalate to"
            data={people.map((p) => ({ value: `${p.rung}|${p.reference}`, label: `${p.display}: ${p.rungLabel}` }))}
            value={choice}
            onChange={setChoice}
            allowDeselect={false}
            withAsterisk
            error={missing.who}
          />
          <Textarea mt="sm" label="Reason for escalating" value={reason} onChange={(e) => setReason(e.currentTarget.value)} autosize minRows={2} withAsterisk error={missing.reason} />
          <Text size="sm" mt={4}>
            The task is handed over with its status and deadline unchanged; they get a message. If it is still waiting at the deadline, the server escalates it further.
          </Text>
        </>
      )}
      {problem && (
        <Notice title="Not escalated" mt="sm">
          {problem.issues.find((i) => i.expression)?.message ?? problem.message}
        </Notice>
      )}
      {people && people.length > 0 && (
        <Button type="submit" mt="sm" color="red.9" loading={busy}>
          Escalate now
        </Button>
      )}
    </Box>
  );
}

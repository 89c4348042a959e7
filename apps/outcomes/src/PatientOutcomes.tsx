import { Alert, Badge, Box, Button, Group, Loader, Stack, Table, Text, Title } from '@mantine/core';
import type { Observation, Parameters } from '@medplum/fhirtypes';
import { useCallback, useEffect, useState } from 'react';
import { PageTitle } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { formatDate, signed } from './format.ts';
import { type InstrumentBands, bandsFor } from './instruments.ts';
import { markersOf, outcomeWords } from './markers.ts';
import { type InstrumentSummary, type PatientSummary, type RecoveryStatus, readSummary } from './parameters.ts';
import { TrendChart } from './TrendChart.tsx';
import { BAD, GOOD } from './colors.ts';

/**
 * One patient's outcomes: `Patient/[id]/$mbc-summary` per instrument (PHQ-9 and GAD-7 first),
 * each as a trend chart over its severity bands and a table with the same scores, plus the
 * severity band the server wrote on each scored Observation (Observation.interpretation).
 */
export function PatientOutcomes(props: { patientId: string }) {
  const { medplum, signInAgain } = useSmart();
  const [summary, setSummary] = useState<PatientSummary>();
  const [bandText, setBandText] = useState<Map<string, string>>(new Map());
  const [problem, setProblem] = useState<Problem>();

  const load = useCallback(async () => {
    setProblem(undefined);
    try {
      const answer = (await medplum.get(medplum.fhirUrl('Patient', props.patientId, '$mbc-summary'))) as Parameters;
      const s = readSummary(answer);
      setSummary(s);
      setBandText(await serverBands(medplum, s));
    } catch (e) {
      setProblem(problemFrom(e));
    }
  }, [medplum, props.patientId]);
  useEffect(() => {
    void load();
  }, [load]);

  if (problem) {
    return (
      <>
        <PageTitle>Outcomes</PageTitle>
        <Alert color={BAD} title="The outcomes could not be shown" role="alert">
          <Text>{problem.kind === 'not-found' ? 'This patient was not found, or is not in your care.' : problem.message}</Text>
          <Group mt="sm">
            {problem.kind === 'session' ? <Button onClick={signInAgain}>Sign in again</Button> : <Button onClick={() => void load()}>Try again</Button>}
          </Group>
        </Alert>
      </>
    );
  }
  if (!summary) {
    return (
      <>
        <PageTitle>Outcomes</PageTitle>
        <Group gap="xs" aria-busy="true">
          <Loader size="sm" aria-hidden />
          <Text>Loading scores…</Text>
        </Group>
      </>
    );
  }
  const bandOf = (observation: string) => bandText.get(observation);
  return (
    <>
      <PageTitle>Outcomes</PageTitle>
      {summary.instruments.length === 0 ? (
        <Text>No scored PHQ-9, GAD-7 or other instrument results you may see for this patient yet.</Text>
      ) : (
        <Stack gap="xl">
          <Recovery recovery={summary.recovery} />
          {summary.instruments.map((s) => (
            <InstrumentSection key={`${s.code.system}|${s.code.code}`} summary={s} bands={bandsFor(s.code.system, s.code.code)} bandOf={bandOf} />
          ))}
        </Stack>
      )}
    </>
  );
}

/** The severity band the server wrote on each scored total, by `Observation/<id>`. */
async function serverBands(medplum: ReturnType<typeof useSmart>['medplum'], s: PatientSummary): Promise<Map<string, string>> {
  const ids = s.instruments.flatMap((i) => i.scores.map((x) => x.observation.replace(/^Observation\//, ''))).filter(Boolean);
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const bundle = await medplum.search('Observation', { _id: chunk.join(','), _elements: 'interpretation', _count: String(chunk.length) });
    for (const e of bundle.entry ?? []) {
      const o = e.resource as Observation | undefined;
      const text = o?.interpretation?.[0]?.text ?? o?.interpretation?.[0]?.coding?.[0]?.display;
      if (o?.id && text) out.set(`Observation/${o.id}`, text);
    }
  }
  return out;
}

const RECOVERY: Record<RecoveryStatus, string> = {
  recovered: 'Recovered',
  'not-recovered': 'Not recovered',
  'not-at-caseness': 'Not at caseness at the first paired assessment, so recovery does not apply',
  'insufficient-data': 'Not enough paired assessments yet (a PHQ-9 and a GAD-7 on the same day, at least twice)',
};

function Recovery(props: { recovery: PatientSummary['recovery'] }) {
  const r = props.recovery;
  return (
    <Box component="section" aria-labelledby="recovery-heading">
      <Title order={2} size="h3" id="recovery-heading">
        Recovery
      </Title>
      <Text>
        <strong>{RECOVERY[r.status]}</strong>
        {r.firstPaired && r.lastPaired && ` (paired PHQ-9 and GAD-7 from ${formatDate(r.firstPaired)} to ${formatDate(r.lastPaired)})`}.
      </Text>
      <Text size="sm" c="dimmed">
        NHS Talking Therapies: at caseness (PHQ-9 10 or more, or GAD-7 8 or more) at the first paired assessment and below caseness on both at the last.
      </Text>
    </Box>
  );
}

function InstrumentSection(props: { summary: InstrumentSummary; bands?: InstrumentBands; bandOf: (observation: string) => string | undefined }) {
  const { summary: s, bands } = props;
  const id = `instrument-${(s.code.code ?? s.name).replace(/[^A-Za-z0-9]/g, '-')}`;
  return (
    <Box component="section" aria-labelledby={`${id}-heading`}>
      <Title order={2} size="h3" id={`${id}-heading`} mb="xs">
        {s.name}
        {bands ? ` (${bands.measures})` : ''}
      </Title>
      <OutcomeFacts summary={s} bands={bands} id={`${id}-facts`} />
      <Box mt="md">
        <TrendChart summary={s} bands={bands} bandOf={props.bandOf} describedBy={`${id}-facts`} />
      </Box>
      <ScoreTable summary={s} bandOf={props.bandOf} />
    </Box>
  );
}

/** The server's summary in words: baseline, latest, change and each outcome flag. */
function OutcomeFacts(props: { summary: InstrumentSummary; bands?: InstrumentBands; id: string }) {
  const { summary: s, bands } = props;
  const two = s.assessments >= 2;
  const flag = (value: boolean | undefined) => (value === undefined ? 'needs two or more scores' : value ? 'yes' : 'no');
  const rows: [string, string][] = [
    ['Scores', `${s.assessments}, from ${formatDate(s.scores[0]?.date)} to ${formatDate(s.scores.at(-1)?.date)}`],
    ['Baseline', `${s.baseline} on ${formatDate(s.baselineDate)}`],
    ['Latest', `${s.latest} on ${formatDate(s.latestDate)}`],
  ];
  if (s.change !== undefined) rows.push(['Change', `${signed(s.change)} points${s.percentChange !== undefined ? ` (${signed(s.percentChange)} %)` : ''}`]);
  if (bands || s.response !== undefined) {
    rows.push(['Response (50 % or more below baseline)', flag(s.response)]);
    rows.push([`Remission (latest below ${bands?.remissionBelow ?? 5})`, flag(s.remission)]);
    rows.push([bands ? `Reliable improvement (${bands.reliableChange} or more points lower)` : 'Reliable improvement', flag(s.reliableImprovement)]);
    rows.push([bands ? `Reliable deterioration (${bands.reliableChange} or more points higher)` : 'Reliable deterioration', flag(s.reliableDeterioration)]);
  }
  const words = outcomeWords(s);
  return (
    <div id={props.id}>
      {two && (
        <Group gap="xs" mb="xs" aria-label={`${s.name} outcome`}>
          {words.length === 0 ? (
            <Badge color="gray" variant="light" size="lg">
              No response or remission yet
            </Badge>
          ) : (
            words.map((w) => (
              <Badge key={w} color={w === 'Reliable deterioration' ? BAD : GOOD} variant="filled" size="lg">
                {w}
              </Badge>
            ))
          )}
        </Group>
      )}
      <Box component="dl" m={0}>
        {rows.map(([k, v]) => (
          // One fact a line: the term in a column of its own where there is room, above its value on a phone.
          <Box key={k} style={{ display: 'flex', flexWrap: 'wrap', columnGap: 16, marginBottom: 4 }}>
            <Text component="dt" fw={600} size="sm" style={{ flex: '0 1 22rem' }}>
              {k}
            </Text>
            <Text component="dd" m={0} size="sm">
              {v}
            </Text>
          </Box>
        ))}
      </Box>
      {s.reliableDeterioration && (
        <Alert color={BAD} variant="light" mt="sm" title="Reliable deterioration">
          The latest {s.name} is reliably worse than the baseline. Review the treatment plan with the patient.
        </Alert>
      )}
    </div>
  );
}

/** "Sep 11, 2026" wraps, on a phone, only as "Sep 11," / "2026" (spaces but the last made non-breaking). */
function breakOnlyBeforeLast(text: string): string {
  const last = text.lastIndexOf(' ');
  return last < 0 ? text : `${text.slice(0, last).replace(/ /g, '\u00a0')}${text.slice(last)}`;
}

/** The table alternative of the chart: the same scores, with the server's band and the markers. */
function ScoreTable(props: { summary: InstrumentSummary; bandOf: (observation: string) => string | undefined }) {
  const { summary: s } = props;
  const markers = markersOf(s);
  const markedAt = (date: string) =>
    markers
      .filter((m) => m.date === date)
      .map((m) => (m.kind === 'baseline' ? 'Baseline' : `Latest${m.words[0] === 'Latest' ? '' : `: ${m.words.join(', ')}`}`))
      .join('; ');
  return (
    <Box mt="md">
      <Table striped withTableBorder horizontalSpacing={6} fz="sm" data-scores={s.name}>
        <Table.Caption style={{ captionSide: 'top', textAlign: 'left', fontWeight: 600, color: 'var(--mantine-color-text)' }}>{s.name} scores, oldest first (the chart's data)</Table.Caption>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Date</Table.Th>
            <Table.Th scope="col">Score</Table.Th>
            <Table.Th scope="col">Severity</Table.Th>
            <Table.Th scope="col">Marked</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {s.scores.map((x) => (
            <Table.Tr key={x.observation || x.date} data-observation={x.observation}>
              <Table.Td>
                <time dateTime={x.date}>{breakOnlyBeforeLast(formatDate(x.date))}</time>
              </Table.Td>
              <Table.Td>{x.value}</Table.Td>
              <Table.Td>{props.bandOf(x.observation) ?? '—'}</Table.Td>
              <Table.Td>{markedAt(x.date)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Box>
  );
}

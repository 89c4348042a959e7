import { LineChart } from '@mantine/charts';
import { Alert, Badge, Group, List, Loader, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import type { CarePlan, Encounter, Goal, Observation } from '@medplum/fhirtypes';
import { problemFrom } from '../../shared/problem.ts';
import { shortDate } from './api.ts';
import { BADGE } from './colors.ts';

/**
 * What the clinician reads before writing: the scores since the last visit (the server's totals
 * and bands, never recomputed here), the active goals with the server's achievement status, and
 * the care plan.
 */
const SHORT_NAMES: Record<string, string> = { '44261-6': 'PHQ-9', '70274-6': 'GAD-7' };

export function instrumentName(o: Observation): string {
  const c = o.code?.coding?.[0];
  return (c?.code && SHORT_NAMES[c.code]) || o.code?.text || c?.display || c?.code || 'Score';
}
export const scoreValue = (o: Observation): number | undefined => o.valueQuantity?.value;
export const bandText = (o: Observation): string => o.interpretation?.[0]?.text ?? o.interpretation?.[0]?.coding?.[0]?.display ?? '';

export interface ContextData {
  previousVisit?: Encounter;
  scores: Observation[];
  goals: Goal[];
  plans: CarePlan[];
}

export function ScoresPanel(props: { data?: ContextData; error?: unknown }) {
  const { data } = props;
  return (
    <Paper withBorder p={{ base: 'xs', sm: 'md' }} component="section" aria-labelledby="scores-title">
      <Title order={2} size="h4" id="scores-title">
        Scores since the last visit
      </Title>
      {props.error ? (
        <Alert color="red" mt="sm">
          {problemFrom(props.error).message}
        </Alert>
      ) : !data ? (
        <Loader size="sm" mt="sm" aria-label="Loading scores" />
      ) : (
        <ScoresBody data={data} />
      )}
    </Paper>
  );
}

function ScoresBody({ data }: { data: ContextData }) {
  const since = data.previousVisit?.period?.start;
  if (data.scores.length === 0) {
    return <Text mt="sm">{since ? `No scores since the last visit on ${shortDate(since)}.` : 'No scores recorded yet.'}</Text>;
  }
  const names = [...new Set(data.scores.map(instrumentName))];
  const byDay = new Map<string, Record<string, string | number>>();
  for (const o of data.scores) {
    const day = (o.effectiveDateTime ?? o.issued ?? '').slice(0, 10);
    const row = byDay.get(day) ?? { date: shortDate(day) };
    const v = scoreValue(o);
    if (v !== undefined) row[instrumentName(o)] = v;
    byDay.set(day, row);
  }
  const rows = [...byDay.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r);
  const colors = ['blue.8', 'grape.8', 'teal.9', 'orange.9'];
  return (
    <Stack gap="sm" mt="xs">
      <Text size="sm" c="dimmed">
        {since ? `From the last visit on ${shortDate(since)} to today.` : 'All scores so far.'} Totals and bands as scored by the server.
      </Text>
      <div role="img" aria-label={`Chart of ${names.join(' and ')} scores since the last visit; the same scores are in the table below.`}>
        <LineChart
          h={160}
          data={rows}
          dataKey="date"
          series={names.map((name, i) => ({ name, color: colors[i % colors.length] }))}
          connectNulls
          withLegend
          withTooltip={false}
          curveType="linear"
          yAxisProps={{ allowDecimals: false }}
        />
      </div>
      <Table striped withTableBorder fz="sm" horizontalSpacing="xs" layout="fixed" style={{ overflowWrap: "anywhere" }}>
          <Table.Caption>Scores since the last visit</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">Date</Table.Th>
              <Table.Th scope="col">Instrument</Table.Th>
              <Table.Th scope="col">Score</Table.Th>
              <Table.Th scope="col">Band</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.scores.map((o) => (
              <Table.Tr key={o.id}>
                <Table.Td>{shortDate(o.effectiveDateTime ?? o.issued)}</Table.Td>
                <Table.Td>{instrumentName(o)}</Table.Td>
                <Table.Td>{scoreValue(o) ?? ''}</Table.Td>
                <Table.Td>{bandText(o)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
      </Table>
    </Stack>
  );
}

const ACHIEVEMENT_COLORS: Record<string, string> = { achieved: BADGE.green, improving: BADGE.green, worsening: BADGE.red, 'no-change': BADGE.gray, 'in-progress': BADGE.blue };

function targetText(g: Goal): string {
  return (g.target ?? [])
    .map((t) => {
      const measure = t.measure?.coding?.[0]?.display ?? t.measure?.text ?? '';
      const q = t.detailQuantity;
      const value = q ? `${q.comparator ?? ''} ${q.value ?? ''}`.trim() : t.detailRange ? `${t.detailRange.low?.value ?? ''}–${t.detailRange.high?.value ?? ''}` : '';
      const due = t.dueDate ? ` by ${shortDate(t.dueDate)}` : '';
      return `${measure} ${value}${due}`.trim();
    })
    .join('; ');
}

export function PlanPanel(props: { data?: ContextData; error?: unknown }) {
  const { data } = props;
  return (
    <Paper withBorder p={{ base: 'xs', sm: 'md' }} component="section" aria-labelledby="plan-title">
      <Title order={2} size="h4" id="plan-title">
        Goals and care plan
      </Title>
      {props.error ? (
        <Alert color="red" mt="sm">
          {problemFrom(props.error).message}
        </Alert>
      ) : !data ? (
        <Loader size="sm" mt="sm" aria-label="Loading goals and care plan" />
      ) : (
        <SimpleGrid cols={{ base: 1, sm: 2 }} mt="xs">
          <Stack gap="xs">
            <Title order={3} size="h5">
              Active goals
            </Title>
            {data.goals.length === 0 ? (
              <Text size="sm">No active goals.</Text>
            ) : (
              <List spacing="xs" listStyleType="none" p={0}>
                {data.goals.map((g) => {
                  const status = g.achievementStatus?.coding?.[0];
                  return (
                    <List.Item key={g.id}>
                      <Text fw={600}>{g.description?.text ?? 'Goal'}</Text>
                      <Text size="sm">Target: {targetText(g) || 'not stated'}</Text>
                      {status && (
                        <Group gap="xs" mt={2}>
                          <Badge variant="filled" color={ACHIEVEMENT_COLORS[status.code ?? ''] ?? BADGE.gray}>
                            {status.display ?? status.code}
                          </Badge>
                          {g.achievementStatus?.text && <Text size="sm">{g.achievementStatus.text}</Text>}
                        </Group>
                      )}
                    </List.Item>
                  );
                })}
              </List>
            )}
          </Stack>
          <Stack gap="xs">
            <Title order={3} size="h5">
              Care plan
            </Title>
            {data.plans.length === 0 ? (
              <Text size="sm">No active care plan.</Text>
            ) : (
              data.plans.map((p) => (
                <div key={p.id}>
                  <Text fw={600}>{p.title ?? p.category?.[0]?.coding?.[0]?.display ?? 'Care plan'}</Text>
                  {p.period?.start && <Text size="sm">Since {shortDate(p.period.start)}</Text>}
                  <List size="sm" spacing={2}>
                    {(p.activity ?? []).map((a, i) => (
                      <List.Item key={i}>{a.detail?.description ?? a.detail?.code?.coding?.[0]?.display ?? 'Activity'}</List.Item>
                    ))}
                  </List>
                </div>
              ))
            )}
          </Stack>
        </SimpleGrid>
      )}
    </Paper>
  );
}

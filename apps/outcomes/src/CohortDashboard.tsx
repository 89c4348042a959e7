import { Alert, Box, Button, Group, Loader, NativeSelect, Paper, SimpleGrid, Table, Text, TextInput, Title } from '@mantine/core';
import type { Parameters } from '@medplum/fhirtypes';
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { PageTitle } from '../../shared/Shell.tsx';
import { useSmart } from '../../shared/mount.tsx';
import { type Problem, problemFrom } from '../../shared/problem.ts';
import { type FilterChoices, loadFilterChoices } from './cohort-filters.ts';
import { count, formatDate, percent, signed } from './format.ts';
import { bandsFor } from './instruments.ts';
import { type CohortInstrument, type CohortReport, type Measure, readCohort } from './parameters.ts';
import { BAD } from './colors.ts';

/** The inputs of `$mbc-cohort` (server/src/fhir/interactions/mbc-cohort.ts), as the form holds them. */
interface Filters {
  program: string;
  payer: string;
  practitioner: string;
  start: string;
  end: string;
}
const NONE: Filters = { program: '', payer: '', practitioner: '', start: '', end: '' };
const FIELDS: (keyof Filters)[] = ['program', 'payer', 'practitioner', 'start', 'end'];

/**
 * The cohort dashboard: `[base]/$mbc-cohort` with the filters it takes (program, payer,
 * practitioner, start, end), the figures in the server's numbers and in words. The server
 * counts only the patients and scores this clinician may see, so the dashboard is theirs.
 */
export function CohortDashboard() {
  const { medplum, signInAgain } = useSmart();
  const [filters, setFilters] = useState<Filters>(NONE);
  const [choices, setChoices] = useState<FilterChoices>();
  const [report, setReport] = useState<CohortReport>();
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<Problem>();
  const request = useRef(0);

  useEffect(() => {
    loadFilterChoices(medplum).then(setChoices, () => setChoices({ programs: [], payers: [], practitioners: [] }));
  }, [medplum]);

  const run = useCallback(
    async (f: Filters) => {
      const mine = ++request.current;
      setLoading(true);
      const query = new URLSearchParams();
      for (const k of FIELDS) if (f[k]) query.set(k, f[k]);
      try {
        const answer = (await medplum.get(`${medplum.fhirUrl('$mbc-cohort')}${query.size ? `?${query}` : ''}`)) as Parameters;
        if (mine !== request.current) return; // A newer filter was chosen meanwhile.
        setReport(readCohort(answer));
        setProblem(undefined);
      } catch (e) {
        if (mine !== request.current) return;
        setProblem(problemFrom(e));
      } finally {
        if (mine === request.current) setLoading(false);
      }
    },
    [medplum]
  );
  useEffect(() => {
    void run(filters);
  }, [run, filters]);

  const set = (k: keyof Filters) => (value: string) => setFilters((f) => ({ ...f, [k]: value }));
  const fieldProblem = (k: keyof Filters) => problem?.issues.find((i) => i.expression === k)?.message;
  const generalProblem = problem && !FIELDS.some((k) => fieldProblem(k)) ? problem : undefined;
  const labelOf = (list: { value: string; label: string }[] | undefined, v: string) => list?.find((c) => c.value === v)?.label ?? v;

  const filteredBy = [
    filters.program && labelOf(choices?.programs, filters.program),
    filters.payer && `payer ${labelOf(choices?.payers, filters.payer)}`,
    filters.practitioner && `care team of ${labelOf(choices?.practitioners, filters.practitioner)}`,
  ].filter(Boolean);

  return (
    <>
      <PageTitle>Cohort outcomes</PageTitle>
      <Text mb="md">PHQ-9 and GAD-7 outcomes of the patients you may see, as the server counts them. Choose filters to narrow the cohort.</Text>
      <Paper withBorder p="md" mb="lg" component="form" aria-labelledby="filters-heading" onSubmit={(e) => e.preventDefault()}>
        <Title order={2} size="h4" id="filters-heading" mb="sm">
          Filters
        </Title>
        <SimpleGrid cols={{ base: 1, xs: 2, md: 3 }} spacing="sm">
          <NativeSelect label="Program" value={filters.program} onChange={(e) => set('program')(e.currentTarget.value)} error={fieldProblem('program')}
            data={[{ value: '', label: 'All programs' }, ...(choices?.programs ?? [])]} />
          <NativeSelect label="Payer" value={filters.payer} onChange={(e) => set('payer')(e.currentTarget.value)} error={fieldProblem('payer')}
            data={[{ value: '', label: 'All payers' }, ...(choices?.payers ?? [])]} />
          <NativeSelect label="Practitioner on the care team" value={filters.practitioner} onChange={(e) => set('practitioner')(e.currentTarget.value)} error={fieldProblem('practitioner')}
            data={[{ value: '', label: 'All practitioners' }, ...(choices?.practitioners ?? [])]} />
          <TextInput type="date" label="From" description="First day of the period" value={filters.start} onChange={(e) => set('start')(e.currentTarget.value)} error={fieldProblem('start')} />
          <TextInput type="date" label="To" description="Last day of the period" value={filters.end} onChange={(e) => set('end')(e.currentTarget.value)} error={fieldProblem('end')} />
        </SimpleGrid>
        <Group mt="sm">
          <Button variant="default" type="button" onClick={() => setFilters(NONE)} disabled={FIELDS.every((k) => !filters[k])}>
            Clear filters
          </Button>
        </Group>
      </Paper>

      {generalProblem && (
        <Alert color={BAD} title="The figures could not be shown" role="alert" mb="md">
          <Text>{generalProblem.message}</Text>
          <Group mt="sm">
            {generalProblem.kind === 'session' ? <Button onClick={signInAgain}>Sign in again</Button> : <Button onClick={() => void run(filters)}>Try again</Button>}
          </Group>
        </Alert>
      )}

      <Box aria-busy={loading}>
        {loading && !report && (
          <Group gap="xs">
            <Loader size="sm" aria-hidden />
            <Text>Counting…</Text>
          </Group>
        )}
        {problem && !generalProblem && (
          <Text role="status">No figures for these filters: the server refused the field marked above.</Text>
        )}
        {report && !problem && (
          <Box component="section" aria-labelledby="figures-heading" style={{ opacity: loading ? 0.6 : 1 }}>
            <Title order={2} size="h3" id="figures-heading">
              Figures
            </Title>
            {/* The headline is announced when a filter changes the figures; the table is there to read. */}
            <Text mb="sm" aria-live="polite">
              {periodWords(report)}
              {filteredBy.length ? `, ${filteredBy.join(', ')}` : ''}: <strong>{count(report.patients, 'patient')}</strong> with a score,{' '}
              <strong>{report.patientsWithTwoOrMore}</strong> with two or more.
            </Text>
            {report.instruments.length > 0 && <InstrumentTable report={report} />}
            <Text mt="sm">
              Scheduled assessments completed (all instruments): <MeasureWords m={report.scheduledCompleted} of="expected" />.
            </Text>
          </Box>
        )}
      </Box>
    </>
  );
}

function periodWords(r: CohortReport): string {
  const { start, end } = r.period;
  return start ? `From ${formatDate(start)} to ${formatDate(end)}` : `All scores up to ${formatDate(end)}`;
}

/** "3 of 5 (60 %)": the server's count, denominator and rate. */
function MeasureWords(props: { m: Measure; of?: string }) {
  const { m } = props;
  if (m.denominator === 0) return <>none {props.of ?? 'to count'}</>;
  return (
    <>
      {m.count} of {m.denominator}
      {props.of ? ` ${props.of}` : ''}
      {m.rate !== undefined ? ` (${percent(m.rate)})` : ''}
    </>
  );
}

function InstrumentTable(props: { report: CohortReport }) {
  const list = props.report.instruments;
  const name = (i: CohortInstrument) => bandsFor(i.code.system, i.code.code)?.name ?? i.code.display ?? i.code.code ?? 'Instrument';
  const rows: [string, (i: CohortInstrument) => ReactNode][] = [
    ['Patients with a score', (i) => i.patients],
    ['Patients with two or more scores', (i) => i.patientsWithTwoOrMore],
    ['Response (50 % or more below baseline)', (i) => <MeasureWords m={i.response} />],
    ['Remission (latest below 5)', (i) => <MeasureWords m={i.remission} />],
    ['Reliable improvement', (i) => <MeasureWords m={i.reliableImprovement} />],
    ['Median change (points)', (i) => (i.medianChange === undefined ? 'none' : signed(i.medianChange))],
    ['Scheduled assessments completed', (i) => <MeasureWords m={i.scheduledCompleted} of="expected" />],
  ];
  return (
    <Box>
      <Table withTableBorder striped data-cohort-table>
        <Table.Caption style={{ captionSide: 'top', textAlign: 'left', fontWeight: 600, color: 'var(--mantine-color-text)' }}>
          Outcomes by instrument (response, remission and reliable improvement among patients with two or more scores)
        </Table.Caption>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Measure</Table.Th>
            {list.map((i) => (
              <Table.Th scope="col" key={i.code.code}>
                {name(i)}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map(([label, cell]) => (
            <Table.Tr key={label}>
              <Table.Th scope="row" fw={500}>
                {label}
              </Table.Th>
              {list.map((i) => (
                <Table.Td key={i.code.code}>{cell(i)}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Box>
  );
}

import { LineChart } from '@mantine/charts';
import { Paper, Text } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { Line, ReferenceArea, ReferenceDot, ReferenceLine } from 'recharts';
import { BAD, GOOD, NEUTRAL } from './colors.ts';
import { formatDate, formatShortDate } from './format.ts';
import type { InstrumentBands } from './instruments.ts';
import type { InstrumentSummary } from './parameters.ts';
import { type Marker, markersOf } from './markers.ts';

const LINE = '#1864ab';
const TEXT = '#212529';
const DAY = 86_400_000;

interface Point {
  t: number;
  date: string;
  value: number;
  band?: string;
}

/**
 * One instrument's totals over time: the server's scores as a line over the severity bands, the
 * cut-off lines (remission, caseness), and the baseline and latest points marked with what
 * `$mbc-summary` says about them. The SVG is a picture (role img, with the same facts in its
 * label); the table beside it is the accessible equivalent, with the same data.
 */
export function TrendChart(props: { summary: InstrumentSummary; bands?: InstrumentBands; bandOf: (observation: string) => string | undefined; describedBy?: string }) {
  const { summary: s, bands } = props;
  // Wide screens name the bands in a margin right of the plot, clear of the latest point's marker;
  // phones have no room for that margin and name them inside.
  const wide = useMediaQuery('(min-width: 36em)', true, { getInitialValueInEffect: false });
  const data: Point[] = s.scores.map((x) => ({ t: Date.parse(x.date), date: x.date, value: x.value, band: props.bandOf(x.observation) }));
  const times = data.map((d) => d.t);
  const domain: [number, number] = [Math.min(...times) - 4 * DAY, Math.max(...times) + 4 * DAY];
  const top = bands?.maxTotal ?? Math.max(...data.map((d) => d.value), 1);
  const ticks = bands ? [...bands.bands.map((b) => b.min), bands.maxTotal] : undefined;
  const markers = markersOf(s);
  const label = `${s.name} totals over time: ${s.assessments} scores from ${formatDate(s.scores[0]?.date)} to ${formatDate(s.scores.at(-1)?.date)}, baseline ${s.baseline}, latest ${s.latest}. ${markers
    .map((m) => `${m.words.join(', ')} at ${formatDate(m.date)}.`)
    .join(' ')} The table lists every score.`;

  return (
    <Paper withBorder p="xs" radius="sm">
      <div role="img" aria-label={label} aria-describedby={props.describedBy} data-chart={s.name}>
        <LineChart
          h={300}
          data={data}
          dataKey="t"
          series={[]}
          withDots={false}
          gridAxis="none"
          textColor="gray.8"
          lineChartProps={{ accessibilityLayer: false, margin: { top: 16, right: bands && wide ? 124 : 16, bottom: 8, left: 0 } }}
          xAxisProps={{ type: 'number', scale: 'time', domain, tickFormatter: (t: number) => formatShortDate(t), minTickGap: 24 }}
          yAxisProps={{ domain: [0, top], ticks, allowDecimals: false, width: 32, interval: 0 }}
          tooltipProps={{ content: ({ payload }) => <ScoreTip point={payload?.[0]?.payload as Point | undefined} name={s.name} /> }}
        >
          {bands?.bands.map((b, i) => (
            <ReferenceArea
              key={b.code}
              yAxisId="left"
              y1={i === 0 ? 0 : b.min - 0.5}
              y2={i === bands.bands.length - 1 ? bands.maxTotal : b.max + 0.5}
              fill={b.color}
              fillOpacity={1}
              stroke="none"
              ifOverflow="visible"
              label={{ value: b.label, position: wide ? 'right' : 'insideTopRight', fill: TEXT, fontSize: 12 }}
              className="bh-band"
            />
          ))}
          {bands && (
            <ReferenceLine
              yAxisId="left"
              y={bands.remissionBelow - 0.5}
              stroke={GOOD}
              strokeDasharray="6 3"
              strokeWidth={1.5}
              label={{ value: `Remission: below ${bands.remissionBelow}`, position: 'insideBottomLeft', fill: GOOD, fontSize: 12 }}
              className="bh-cutoff"
            />
          )}
          {bands && (
            <ReferenceLine
              yAxisId="left"
              y={bands.casenessAtLeast - 0.5}
              stroke={BAD}
              strokeDasharray="2 3"
              strokeWidth={1.5}
              label={{ value: `Caseness: ${bands.casenessAtLeast} or more`, position: 'insideTopLeft', fill: BAD, fontSize: 12 }}
              className="bh-cutoff"
            />
          )}
          <Line
            yAxisId="left"
            dataKey="value"
            name={`${s.name} total`}
            type="linear"
            stroke={LINE}
            strokeWidth={2}
            isAnimationActive={false}
            dot={(p: { cx?: number; cy?: number; index?: number; payload?: Point }) => (
              <circle key={p.index} cx={p.cx} cy={p.cy} r={4} fill={LINE} stroke="#fff" strokeWidth={1} data-date={p.payload?.date} data-value={p.payload?.value} className="bh-score" />
            )}
            activeDot={{ r: 6, fill: LINE, stroke: '#fff' }}
          />
          {markers.map((m) => (
            <ReferenceDot
              key={m.kind}
              yAxisId="left"
              x={Date.parse(m.date)}
              y={m.value}
              r={8}
              ifOverflow="visible"
              shape={(p: { cx?: number; cy?: number }) => <MarkerShape marker={m} cx={p.cx ?? 0} cy={p.cy ?? 0} top={top} />}
            />
          ))}
        </LineChart>
      </div>
      {bands && (
        <Text size="xs" c="dimmed" mt={4}>
          {bands.source}
        </Text>
      )}
    </Paper>
  );
}

function MarkerShape(props: { marker: Marker; cx: number; cy: number; top: number }) {
  const { marker: m, cx, cy } = props;
  const color = m.tone === 'good' ? GOOD : m.tone === 'bad' ? BAD : NEUTRAL;
  const above = m.value <= props.top / 2; // Labels away from the top edge.
  const anchor = m.kind === 'baseline' ? 'start' : 'end';
  const lines = m.words;
  const lineHeight = 14;
  const y0 = above ? cy - 14 - (lines.length - 1) * lineHeight : cy + 22;
  return (
    <g data-marker={m.kind} data-date={m.date} data-value={m.value} data-cx={cx} data-cy={cy}>
      <circle cx={cx} cy={cy} r={8} fill="none" stroke={color} strokeWidth={2.5} />
      <text x={cx + (anchor === 'start' ? -4 : 4)} y={y0} textAnchor={anchor} fill={color} fontSize={12} fontWeight={700} stroke="#fff" strokeWidth={3} paintOrder="stroke">
        {lines.map((w, i) => (
          <tspan key={w} x={cx + (anchor === 'start' ? -4 : 4)} dy={i === 0 ? 0 : lineHeight}>
            {w}
          </tspan>
        ))}
      </text>
    </g>
  );
}

function ScoreTip(props: { point?: Point; name: string }) {
  if (!props.point) return null;
  return (
    <Paper withBorder shadow="sm" p="xs">
      <Text size="sm" fw={700}>
        {formatDate(props.point.date)}
      </Text>
      <Text size="sm">
        {props.name} {props.point.value}
        {props.point.band ? `: ${props.point.band}` : ''}
      </Text>
    </Paper>
  );
}

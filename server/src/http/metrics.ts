/**
 * Prometheus metrics, text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written by hand: a few
 * counters, one histogram and gauges read at scrape time.
 *
 * A process keeps its own counts; a scrape is a list of samples. In cluster mode the primary
 * merges its workers' samples (./metrics-cluster.ts): counters, histograms and gauges of
 * process-wide quantities are summed, database-wide gauges (the subscription backlog) taken once,
 * and process gauges keep one series per process (`pid` label).
 *
 * Labels are never PHI: an interaction or route template, a status class, a connection state.
 */
export type Labels = Record<string, string>;

export interface Sample {
  /** The series name (a histogram's `_bucket`, `_sum` and `_count` are samples of their own). */
  name: string;
  labels: Labels;
  value: number;
}

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** How the samples of several processes combine: summed, or the largest (the same value read by each). */
  merge: 'sum' | 'max';
}

const FAMILIES: Record<string, Family> = {
  http_requests_total: { help: 'HTTP requests answered, by FHIR interaction (or route) and status class.', type: 'counter', merge: 'sum' },
  http_request_duration_seconds: { help: 'Time from request to response end, by FHIR interaction (or route).', type: 'histogram', merge: 'sum' },
  http_requests_in_flight: { help: 'Requests being served now.', type: 'gauge', merge: 'sum' },
  db_pool_connections: { help: 'PostgreSQL pool connections by state (total, idle, waiting = callers queued for one).', type: 'gauge', merge: 'sum' },
  audit_buffer_depth: { help: 'AuditEvents of reads buffered in memory, not yet stored.', type: 'gauge', merge: 'sum' },
  subscription_notifications_pending: { help: 'Subscription events recorded and not yet delivered (database-wide, read at most every 5 s).', type: 'gauge', merge: 'max' },
  process_resident_memory_bytes: { help: 'Resident set size of each server process.', type: 'gauge', merge: 'sum' },
  nodejs_heap_used_bytes: { help: 'V8 heap in use in each server process.', type: 'gauge', merge: 'sum' },
  nodejs_heap_total_bytes: { help: 'V8 heap committed (in use or kept for reuse) in each server process.', type: 'gauge', merge: 'sum' },
  nodejs_external_memory_bytes: { help: 'Memory outside the V8 heap held by JavaScript objects (Buffers) in each server process.', type: 'gauge', merge: 'sum' },
};

/** Upper bounds of the duration buckets, seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The counts of one process. */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, { counts: number[]; sum: number; count: number }>();
  private readonly gauges: (() => Promise<Sample[]> | Sample[])[] = [];

  observeRequest(interaction: string, status: number, seconds: number): void {
    const key = `${interaction}\u0000${Math.floor(status / 100)}xx`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let d = this.durations.get(interaction);
    if (!d) this.durations.set(interaction, (d = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) d.counts[i]++;
    });
    d.sum += seconds;
    d.count++;
  }

  /** A source of gauges read at every scrape (the pool, the audit buffer, the outbox). */
  addGauges(read: () => Promise<Sample[]> | Sample[]): void {
    this.gauges.push(read);
  }

  async samples(): Promise<Sample[]> {
    const out: Sample[] = [];
    for (const [key, value] of this.requests) {
      const [interaction, status_class] = key.split('\u0000');
      out.push({ name: 'http_requests_total', labels: { interaction, status_class }, value });
    }
    for (const [interaction, d] of this.durations) {
      BUCKETS.forEach((le, i) => out.push({ name: 'http_request_duration_seconds_bucket', labels: { interaction, le: String(le) }, value: d.counts[i] }));
      out.push({ name: 'http_request_duration_seconds_bucket', labels: { interaction, le: '+Inf' }, value: d.count });
      out.push({ name: 'http_request_duration_seconds_sum', labels: { interaction }, value: d.sum });
      out.push({ name: 'http_request_duration_seconds_count', labels: { interaction }, value: d.count });
    }
    for (const read of this.gauges) out.push(...(await read()));
    out.push(...processSamples());
    return out;
  }
}

/** Memory of this process, one series per process. */
export function processSamples(): Sample[] {
  const pid = String(process.pid);
  const mem = process.memoryUsage();
  return [
    { name: 'process_resident_memory_bytes', labels: { pid }, value: mem.rss },
    { name: 'nodejs_heap_used_bytes', labels: { pid }, value: mem.heapUsed },
    { name: 'nodejs_heap_total_bytes', labels: { pid }, value: mem.heapTotal },
    { name: 'nodejs_external_memory_bytes', labels: { pid }, value: mem.external },
  ];
}

function familyOf(name: string): string {
  return FAMILIES[name] ? name : name.replace(/_(bucket|sum|count)$/, '');
}

function seriesKey(s: Sample): string {
  return `${s.name}{${Object.entries(s.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}}`;
}

/** The samples of several processes as one scrape. */
export function mergeSamples(lists: Sample[][]): Sample[] {
  const merged = new Map<string, Sample>();
  for (const s of lists.flat()) {
    const key = seriesKey(s);
    const prev = merged.get(key);
    if (!prev) merged.set(key, { ...s, labels: { ...s.labels } });
    else prev.value = FAMILIES[familyOf(s.name)]?.merge === 'max' ? Math.max(prev.value, s.value) : prev.value + s.value;
  }
  return [...merged.values()];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** The text a scrape answers, families in a stable order, each with HELP and TYPE. */
export function renderSamples(samples: Sample[]): string {
  const lines: string[] = [];
  for (const [family, f] of Object.entries(FAMILIES)) {
    const of = samples.filter((s) => familyOf(s.name) === family);
    if (of.length === 0) continue;
    lines.push(`# HELP ${family} ${f.help}`, `# TYPE ${family} ${f.type}`);
    for (const s of of) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      lines.push(`${s.name}${labels.length ? `{${labels.join(',')}}` : ''} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return lines.join('\n') + '\n';
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

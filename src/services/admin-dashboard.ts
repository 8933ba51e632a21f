import { COUNTER_BUCKET, DASHBOARD_DAY_HOURS, DASHBOARD_WEEK_HOURS } from '../config';
import type { Deps } from '../deps';
import { now } from '../lib/crypto';
import { countEventStatement, countersSinceQuery } from '../storage/admin-audit';

// The admin dashboard (issue 18) draws from `audit_counters`: hourly counts
// the database keeps in the statement that records each event (migration
// 0009's triggers). Why D1: the counts are exact and transactional with their
// events, work the same locally and in production, and a week of charts reads
// at most 168 rows per event, whatever the size of the audit log. In
// production at a larger scale, Workers Analytics Engine would take the
// writes off D1 (a write per event to a sampled, SQL-queryable store), at the
// price of sampling and of a second store to run locally.

/** One line of a chart: its label and the counted events it adds up. */
interface SeriesDefinition {
  label: string;
  events: readonly string[];
}

/** The charts, in order: what each line counts. */
export const DASHBOARD_CHARTS: readonly { id: string; title: string; series: readonly SeriesDefinition[] }[] = [
  {
    id: 'sign-ins',
    title: 'Sign-ins',
    series: [
      { label: 'Succeeded', events: ['sign_in'] },
      { label: 'Failed', events: ['sign_in_failed', 'sign_in_refused'] },
      { label: 'Rate-limited', events: ['sign_in_limited'] },
    ],
  },
  {
    id: 'tokens',
    title: 'Tokens issued by grant type',
    series: [
      { label: 'authorization_code', events: ['token_authorization_code'] },
      { label: 'refresh_token', events: ['token_refresh_token'] },
      { label: 'device_code', events: ['token_device_code'] },
    ],
  },
  {
    id: 'reuse',
    title: 'Reuse detections',
    series: [
      { label: 'Refresh token reuse', events: ['refresh_reuse'] },
      { label: 'Code replay', events: ['code_replay'] },
    ],
  },
  {
    id: 'revocations',
    title: 'Revocations',
    series: [
      { label: 'Grants revoked', events: ['grant_revoked'] },
      { label: 'Access tokens revoked', events: ['token_revoked'] },
    ],
  },
  {
    id: 'registrations',
    title: 'Registrations',
    series: [
      { label: 'Users', events: ['user_registered'] },
      { label: 'Clients', events: ['client_created'] },
    ],
  },
  { id: 'errors', title: 'Errors', series: [{ label: 'Server errors', events: ['server_error'] }] },
];

export interface ChartData {
  id: string;
  title: string;
  series: { label: string; values: number[]; total: number }[];
}

/** One window of the dashboard: bucket start times (seconds) and each chart's values per bucket. */
export interface DashboardWindow {
  label: string;
  times: number[];
  charts: ChartData[];
}

/**
 * The dashboard's two windows, from one read of the counters of the last
 * week: the last 24 hours by the hour and the last 7 days by the day. The
 * current (partial) hour is the last bucket.
 */
export async function dashboard({ db }: Deps, time: number): Promise<{ day: DashboardWindow; week: DashboardWindow }> {
  const currentHour = Math.floor(time / COUNTER_BUCKET) * COUNTER_BUCKET;
  const weekStart = currentHour - (DASHBOARD_WEEK_HOURS - 1) * COUNTER_BUCKET;
  const rows = await countersSinceQuery(db, weekStart);
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(`${row.hour}:${row.event}`, row.count);
  const hourly = (hour: number, events: readonly string[]) => events.reduce((sum, event) => sum + (counts.get(`${hour}:${event}`) ?? 0), 0);

  const dayStart = currentHour - (DASHBOARD_DAY_HOURS - 1) * COUNTER_BUCKET;
  const hours = Array.from({ length: DASHBOARD_DAY_HOURS }, (_, i) => dayStart + i * COUNTER_BUCKET);
  // Days end at the current hour: seven spans of 24 hours, the last one ending now.
  const days = Array.from({ length: DASHBOARD_WEEK_HOURS / 24 }, (_, i) => weekStart + i * 24 * COUNTER_BUCKET);
  const daily = (start: number, events: readonly string[]) => {
    let sum = 0;
    for (let h = 0; h < 24; h++) sum += hourly(start + h * COUNTER_BUCKET, events);
    return sum;
  };
  const window = (label: string, times: number[], value: (start: number, events: readonly string[]) => number): DashboardWindow => ({
    label,
    times,
    charts: DASHBOARD_CHARTS.map((chart) => ({
      id: chart.id,
      title: chart.title,
      series: chart.series.map((series) => {
        const values = times.map((start) => value(start, series.events));
        return { label: series.label, values, total: values.reduce((a, b) => a + b, 0) };
      }),
    })),
  });
  return { day: window('Last 24 hours', hours, hourly), week: window('Last 7 days', days, daily) };
}

/** Counts one unexpected server error (app.tsx onError) in the current hour's `server_error` counter. */
export async function recordServerError({ db }: Pick<Deps, 'db'>): Promise<void> {
  await countEventStatement(db, 'server_error', now());
}

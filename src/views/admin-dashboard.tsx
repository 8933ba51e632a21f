import type { DashboardWindow } from '../services/admin-dashboard';
import type { AuditLogRow } from '../storage/admin-audit';
import { AuditRows } from './admin-clients';
import { AdminLayout, Pager } from './admin-layout';

/**
 * /admin: the charts of the last 24 hours and 7 days, drawn by uPlot
 * (/static/admin/uPlot.iife.min.js) and the console's own script
 * (/static/admin/dashboard.js) from the data in the `data-dashboard`
 * attribute: files, no inline script, so the CSP stays strict. The same
 * numbers stand in tables under the charts, for people without scripts.
 */
export function DashboardPage({ day, week }: { day: DashboardWindow; week: DashboardWindow }) {
  const head = (
    <>
      <link rel="stylesheet" href="/static/admin/uPlot.min.css" />
      <script src="/static/admin/uPlot.iife.min.js" defer />
      <script src="/static/admin/dashboard.js" defer />
    </>
  );
  return (
    <AdminLayout title="Dashboard" head={head}>
      <div id="dashboard" data-dashboard={JSON.stringify({ day, week })}>
        {[day, week].map((window, index) => (
          <section class="window" data-window={index === 0 ? 'day' : 'week'}>
            <h2>{window.label}</h2>
            {window.charts.map((chart) => (
              <figure class="chart">
                <figcaption>{chart.title}</figcaption>
                <div class="plot" data-chart={chart.id} />
                <table class="totals">
                  <tbody>
                    {chart.series.map((series) => (
                      <tr>
                        <th scope="row">{series.label}</th>
                        <td data-total={`${window === day ? 'day' : 'week'}:${chart.id}:${series.label}`}>{series.total}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </figure>
            ))}
          </section>
        ))}
      </div>
    </AdminLayout>
  );
}

export interface AuditPageProps {
  query: {
    user?: string | undefined;
    client?: string | undefined;
    type?: string | undefined;
    from?: string | undefined;
    to?: string | undefined;
  };
  types: readonly string[];
  rows: AuditLogRow[];
  page: number;
  hasNext: boolean;
}

/** /admin/audit: filter by user, client, event type and time range; paged; exported as CSV with the same filters. */
export function AuditPage(props: AuditPageProps) {
  const { query } = props;
  const csv = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) csv.set(key, value);
  return (
    <AdminLayout title="Audit log">
      <form method="get" action="/admin/audit" class="filters">
        <p class="field">
          <label for="user">User</label>
          <input id="user" name="user" value={query.user ?? ''} placeholder="Email or id" />
        </p>
        <p class="field">
          <label for="client">Client</label>
          <input id="client" name="client" value={query.client ?? ''} placeholder="Client id" />
        </p>
        <p class="field">
          <label for="type">Event</label>
          <select id="type" name="type">
            <option value="">Any</option>
            {props.types.map((type) => (
              <option value={type} selected={type === query.type}>
                {type}
              </option>
            ))}
          </select>
        </p>
        <p class="field">
          <label for="from">From</label>
          <input id="from" name="from" type="datetime-local" value={query.from ?? ''} />
        </p>
        <p class="field">
          <label for="to">To</label>
          <input id="to" name="to" type="datetime-local" value={query.to ?? ''} />
        </p>
        <button type="submit">Filter</button>
      </form>
      <p>
        <a href={`/admin/audit.csv?${csv}`}>Export as CSV</a> <span class="meta">(times are UTC)</span>
      </p>
      <AuditRows rows={props.rows} />
      <Pager path="/admin/audit" query={query} page={props.page} hasNext={props.hasNext} />
    </AdminLayout>
  );
}

import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { ErrorBox } from '../components/common.jsx';
import { formatTime } from '../lib/format.js';

export const AUDIT_ACTIONS = [
  'login', 'login_failed', 'logout', 'namespace_create', 'namespace_delete', 'concept_delete',
  'snapshot_create', 'snapshot_delete', 'snapshot_restore', 'snapshot_download',
];

export function Audit() {
  const [action, setAction] = useState('');
  const [q, setQ] = useState('');
  const [applied, setApplied] = useState({ action: '', q: '' });
  const [limit, setLimit] = useState(100);
  const [entries, setEntries] = useState(null);
  const [error, setError] = useState(null);
  const [auto, setAuto] = useState(true);

  const load = async () => {
    try {
      const r = await get('api/audit', { limit, action: applied.action, q: applied.q });
      setEntries(r.entries || []);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load();
  }, [applied, limit]);
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(load, 10000);
    return () => clearInterval(t);
  }, [auto, applied, limit]);

  return (
    <section>
      <div class="toolbar">
        <h2>Audit</h2>
        <form
          class="row wrap"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied({ action, q: q.trim() });
          }}
        >
          <select value={action} onChange={(e) => { setAction(e.currentTarget.value); setApplied({ action: e.currentTarget.value, q: q.trim() }); }} data-testid="audit-action">
            <option value="">every action</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          <input class="wide" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="text: key name, target, client…" data-testid="audit-q" />
          <button type="submit">Filter</button>
          <label class="inline">
            last
            <select value={limit} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
              {[100, 500, 1000].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <label class="inline">
            <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} /> refresh
          </label>
        </form>
      </div>
      <ErrorBox error={error} />
      {entries ? (
        <table class="table" data-testid="audit-table">
          <thead>
            <tr>
              <th>time</th>
              <th>key</th>
              <th>action</th>
              <th>target</th>
              <th>result</th>
              <th>client</th>
              <th>correlation id</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e, i) => (
              <tr key={i} data-action={e.action}>
                <td class="small nowrap">{formatTime(e.time)}</td>
                <td>{e.keyName || <span class="muted">–</span>}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td class="selectable">{e.target}</td>
                <td class={/^(ok|success|OK)$/.test(e.result || '') ? 'good' : 'bad'}>{e.result}</td>
                <td class="small">{e.client}</td>
                <td class="small mono selectable">{e.correlationId}</td>
              </tr>
            ))}
            {entries.length === 0 ? (
              <tr>
                <td colspan="7" class="muted">
                  No entries{applied.action || applied.q ? ' match the filter' : ''}.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

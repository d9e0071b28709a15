import { useEffect, useState } from 'preact/hooks';
import { post, del, enc } from '../api.js';
import { ErrorBox, Confirm, useNamespaces, toast } from '../components/common.jsx';
import { formatBytes, formatNumber, formatSeconds, formatTime } from '../lib/format.js';
import { prefs } from '../store.js';
import { INDEX_BACKLOG, thresholdLevel } from '../lib/series.js';
import { parseKeywordFields, formatKeywordFields } from '../lib/urls.js';

const DEFAULTS = { name: '', dimension: 384, metric: 'COSINE', embedder: 'hashing', m: 16, efConstruction: 200, efSearch: 64, quantization: 'QUANTIZATION_NONE', keywordFields: '' };

function CreateForm({ onCreated }) {
  const [f, setF] = useState(DEFAULTS);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const keywordFields = parseKeywordFields(f.keywordFields);
      const ns = await post('api/namespaces', {
        name: f.name.trim(),
        dimension: Number(f.dimension),
        metric: f.metric,
        embedder: f.embedder.trim(),
        indexParams: {
          m: Number(f.m),
          efConstruction: Number(f.efConstruction),
          efSearch: Number(f.efSearch),
          quantization: f.quantization,
        },
        keywordFields,
      });
      toast('ok', `Namespace ${ns.name || f.name} created.`);
      setF(DEFAULTS);
      onCreated();
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };
  return (
    <form class="card form-grid" onSubmit={submit} data-testid="ns-create">
      <h3>Create a namespace</h3>
      <label>
        Name
        <input value={f.name} onInput={set('name')} required maxLength={64} pattern="[A-Za-z0-9_.\-]{1,64}" title="1 to 64 letters, digits, _ . -" data-testid="ns-name" />
      </label>
      <label>
        Dimension
        <input type="number" min="1" max="4096" value={f.dimension} onInput={set('dimension')} required data-testid="ns-dimension" />
      </label>
      <label>
        Metric
        <select value={f.metric} onChange={set('metric')}>
          <option value="COSINE">cosine</option>
          <option value="L2">L2</option>
          <option value="INNER_PRODUCT">inner product</option>
        </select>
      </label>
      <label>
        Embedder
        <input value={f.embedder} onInput={set('embedder')} list="embedders" placeholder="hashing, use-lite, word-vectors/<model>, none" data-testid="ns-embedder" />
        <datalist id="embedders">
          <option value="hashing" />
          <option value="use-lite" />
          <option value="none" />
        </datalist>
      </label>
      <label title="Attributes keyword search scores beside the content (BM25F): ATTR^WEIGHT:B, e.g. title^2 counts a word in the title as two content words; B (0..1, default 0.75) is how much a longer value is discounted. Fixed once created.">
        Keyword fields
        <input value={f.keywordFields} onInput={set('keywordFields')} placeholder="e.g. lemmas^3:1, title^2" data-testid="ns-keyword-fields" />
      </label>
      <fieldset>
        <legend>HNSW index</legend>
        <label>
          m
          <input type="number" min="2" max="128" value={f.m} onInput={set('m')} />
        </label>
        <label>
          efConstruction
          <input type="number" min="2" max="4096" value={f.efConstruction} onInput={set('efConstruction')} />
        </label>
        <label>
          efSearch
          <input type="number" min="1" max="4096" value={f.efSearch} onInput={set('efSearch')} />
        </label>
        <label title="int8: an 8-bit code per dimension walks the graph; candidates are re-scored with the float vectors (exact scores, +1 byte per dimension)">
          Quantization
          <select value={f.quantization} onChange={set('quantization')} data-testid="ns-quantization">
            <option value="QUANTIZATION_NONE">none (float)</option>
            <option value="QUANTIZATION_INT8">int8</option>
          </select>
        </label>
      </fieldset>
      <ErrorBox error={error} />
      <div>
        <button class="primary" type="submit" disabled={busy || !f.name.trim()} data-testid="ns-create-submit">
          {busy ? 'Creating…' : 'Create'}
        </button>
      </div>
    </form>
  );
}

const busyCompaction = (n) => n.compaction && (n.compaction.state === 'QUEUED' || n.compaction.state === 'RUNNING');

/** The compaction state (idle / queued / running) and the last result since storage started. */
function Compaction({ n }) {
  const c = n.compaction;
  if (!c) return <span class="muted">–</span>;
  const state = String(c.state || 'IDLE').toLowerCase();
  const last = c.last;
  let result = null;
  if (last && last.error) {
    result = (
      <div class="bad small" data-testid="ns-compaction-last" title={last.error}>
        failed {formatTime(last.endTime)}: {last.error}
      </div>
    );
  } else if (last) {
    result = (
      <div
        class="small muted"
        data-testid="ns-compaction-last"
        title={`started ${formatTime(last.startTime)}, ended ${formatTime(last.endTime)}; writes waited ${formatSeconds(last.switchSeconds)} for the switch; reads before sequence ${last.cutSequence} are refused since${last.automatic ? '; started by the garbage-ratio trigger' : ''}`}
      >
        <div class="nowrap">
          {formatTime(last.endTime)}
          {last.automatic ? ' (auto)' : ''}
        </div>
        <div class="nowrap">
          disk {formatBytes(last.bytesBefore)} → {formatBytes(last.bytesAfter)}
        </div>
      </div>
    );
  }
  return (
    <div data-testid="ns-compaction" data-state={state}>
      <span class={'badge ' + (state === 'idle' ? 'ok' : 'warn')}>{state}</span>
      {result}
    </div>
  );
}

export function Namespaces() {
  const { list, error, reload } = useNamespaces();
  const [confirm, setConfirm] = useState(null);
  const [compact, setCompact] = useState(null);
  // While a compaction is queued or running, follow it.
  const following = !!(list && list.some(busyCompaction));
  useEffect(() => {
    if (!following) return undefined;
    const t = setTimeout(reload, 1000);
    return () => clearTimeout(t);
  }, [list, following]);
  return (
    <section>
      <div class="toolbar">
        <h2>Namespaces</h2>
        <button onClick={reload}>Refresh</button>
      </div>
      <ErrorBox error={error} />
      {list ? (
        <table class="table" data-testid="ns-table">
          <thead>
            <tr>
              <th>name</th>
              <th class="num">concepts</th>
              <th class="num">associations</th>
              <th class="num" title="vectors, and how many of them are not in the HNSW graph yet (every vector search scans those exactly)">vectors (unindexed)</th>
              <th class="num">dim</th>
              <th>metric</th>
              <th>embedder</th>
              <th>index</th>
              <th>keyword fields</th>
              <th class="num">data</th>
              <th class="num" title="bytes a compaction would reclaim now: superseded versions, deleted concepts and associations, dead vector slots">reclaimable</th>
              <th class="num" title="generation: how many times the namespace was compacted">gen</th>
              <th>compaction</th>
              <th>created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((n) => (
              <tr key={n.name} data-ns={n.name}>
                <td>
                  <strong>{n.name}</strong>
                  {n.system ? (
                    <span class="badge warn small" title="engram-control's own data (the audit log): not deletable from here">
                      {' '}
                      system
                    </span>
                  ) : null}
                </td>
                <td class="num">{formatNumber(n.concepts ?? 0)}</td>
                <td class="num">{formatNumber(n.associations ?? 0)}</td>
                <td class="num nowrap" data-testid="ns-vectors" data-unindexed={n.unindexedVectors ?? 0}>
                  {formatNumber(n.vectors ?? 0)}{' '}
                  <span class={thresholdLevel(n.unindexedVectors ?? 0, INDEX_BACKLOG) === 'warn' ? 'lvl-warn' : 'muted'} data-testid="ns-unindexed">
                    ({formatNumber(n.unindexedVectors ?? 0)})
                  </span>
                </td>
                <td class="num">{n.dimension}</td>
                <td>{n.metric}</td>
                <td>{n.embedder || '–'}</td>
                <td class="small" data-testid="ns-index-cell">
                  {n.indexParams ? `m ${n.indexParams.m ?? '–'}, efC ${n.indexParams.efConstruction ?? '–'}, efS ${n.indexParams.efSearch ?? '–'}${n.indexParams.quantization === 'QUANTIZATION_INT8' ? ', int8' : ''}` : '–'}
                </td>
                <td class="small" data-testid="ns-keyword-fields-cell">{formatKeywordFields(n.keywordFields) || '–'}</td>
                <td class="num nowrap">{formatBytes(n.dataBytes)}</td>
                <td class="num nowrap" data-testid="ns-reclaimable" data-bytes={n.reclaimableBytes ?? ''}>
                  {formatBytes(n.reclaimableBytes)}
                </td>
                <td class="num" data-testid="ns-generation">{n.generation ?? '–'}</td>
                <td>
                  <Compaction n={n} />
                </td>
                <td class="small">{formatTime(n.createTime)}</td>
                <td class="actions stack">
                  <div>
                    <a href={'#/concepts/' + enc(n.name)} onClick={() => prefs.set({ namespace: n.name })}>concepts</a>
                    <a href={'#/graph/' + enc(n.name)} onClick={() => prefs.set({ namespace: n.name })}>graph</a>
                    <a href={'#/reason/' + enc(n.name)} onClick={() => prefs.set({ namespace: n.name })}>reason</a>
                  </div>
                  <div>
                    <button class="small" onClick={() => setCompact(n)} data-testid="ns-compact" disabled={busyCompaction(n)} title={busyCompaction(n) ? 'a compaction is queued or running' : 'rewrite the namespace without its garbage, online'}>
                      Compact
                    </button>
                    <button class="danger small" onClick={() => setConfirm(n.name)} data-testid="ns-delete" disabled={!!n.system} title={n.system ? 'a system namespace' : ''}>
                      Delete
                    </button>
                  </div>
                </td>
              </tr>
            ))}
            {list.length === 0 ? (
              <tr>
                <td colspan="15" class="muted">
                  No namespaces.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      ) : null}
      <CreateForm onCreated={reload} />
      {compact ? (
        <Confirm
          title="Compact namespace"
          target={compact.name}
          action="Compact"
          danger={false}
          onCancel={() => setCompact(null)}
          onConfirm={async () => {
            const ns = await post(`api/namespaces/${enc(compact.name)}:compact`, {});
            const state = String((ns.compaction && ns.compaction.state) || 'QUEUED').toLowerCase();
            toast('ok', `Compaction of ${compact.name} ${state === 'idle' ? 'finished' : state}.`);
            setCompact(null);
            reload();
          }}
        >
          <p>
            engram-storage rewrites the namespace without superseded versions, deleted concepts and associations, and dead vector slots (now{' '}
            <strong>{formatBytes(compact.reclaimableBytes)}</strong> reclaimable), while reads and writes go on; writes wait briefly while it switches over.
          </p>
          <p class="muted small">Reads of an older point in time (a concept list paged before the switch) are refused afterwards and start again. One namespace is compacted at a time; this page follows its progress.</p>
        </Confirm>
      ) : null}
      {confirm ? (
        <Confirm
          title="Delete namespace"
          target={confirm}
          typed
          action="Delete namespace"
          onCancel={() => setConfirm(null)}
          onConfirm={async () => {
            await del(`api/namespaces/${enc(confirm)}`, { confirm }, { expect: 'none' });
            toast('ok', `Namespace ${confirm} deleted.`);
            setConfirm(null);
            reload();
          }}
        >
          <p class="bad">Every concept and association in it is deleted. This cannot be undone (except by restoring a snapshot).</p>
        </Confirm>
      ) : null}
    </section>
  );
}

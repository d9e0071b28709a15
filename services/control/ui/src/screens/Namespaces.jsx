import { useState } from 'preact/hooks';
import { post, del, enc } from '../api.js';
import { ErrorBox, Confirm, useNamespaces, toast } from '../components/common.jsx';
import { formatBytes, formatNumber, formatTime } from '../lib/format.js';
import { prefs } from '../store.js';
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

export function Namespaces() {
  const { list, error, reload } = useNamespaces();
  const [confirm, setConfirm] = useState(null);
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
              <th class="num">vectors (indexed)</th>
              <th class="num">dim</th>
              <th>metric</th>
              <th>embedder</th>
              <th>index</th>
              <th>keyword fields</th>
              <th class="num">data</th>
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
                <td class="num">
                  {formatNumber(n.vectors ?? 0)} ({formatNumber(n.indexedVectors ?? 0)})
                </td>
                <td class="num">{n.dimension}</td>
                <td>{n.metric}</td>
                <td>{n.embedder || '–'}</td>
                <td class="small" data-testid="ns-index-cell">
                  {n.indexParams ? `m ${n.indexParams.m ?? '–'}, efC ${n.indexParams.efConstruction ?? '–'}, efS ${n.indexParams.efSearch ?? '–'}${n.indexParams.quantization === 'QUANTIZATION_INT8' ? ', int8' : ''}` : '–'}
                </td>
                <td class="small" data-testid="ns-keyword-fields-cell">{formatKeywordFields(n.keywordFields) || '–'}</td>
                <td class="num">{formatBytes(n.dataBytes)}</td>
                <td class="small">{formatTime(n.createTime)}</td>
                <td class="actions">
                  <a href={'#/concepts/' + enc(n.name)} onClick={() => prefs.set({ namespace: n.name })}>concepts</a>
                  <a href={'#/graph/' + enc(n.name)} onClick={() => prefs.set({ namespace: n.name })}>graph</a>
                  <a href={'#/reason/' + enc(n.name)} onClick={() => prefs.set({ namespace: n.name })}>reason</a>
                  <button class="danger small" onClick={() => setConfirm(n.name)} data-testid="ns-delete" disabled={!!n.system} title={n.system ? 'a system namespace' : ''}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {list.length === 0 ? (
              <tr>
                <td colspan="12" class="muted">
                  No namespaces.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      ) : null}
      <CreateForm onCreated={reload} />
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

import { useEffect, useState } from 'preact/hooks';
import { get, post, del, enc } from '../api.js';
import { prefs, useStore } from '../store.js';
import { ErrorBox, Confirm, NamespacePicker, Attributes, TypeTag, toast } from '../components/common.jsx';
import { parseFilter, parseVector, routeHref } from '../lib/urls.js';
import { formatTime, trim } from '../lib/format.js';

const conceptOf = (x) => x.concept || x.node || {};

function VectorPreview({ vector }) {
  if (!vector || !vector.length) return <span class="muted">no vector</span>;
  const norm = Math.sqrt(vector.reduce((a, v) => a + v * v, 0));
  const head = vector.slice(0, 64);
  const max = Math.max(1e-12, ...head.map((v) => Math.abs(v)));
  return (
    <div class="vector" data-testid="vector-preview">
      <div class="small muted">
        dimension {vector.length}, L2 norm {trim(norm)}
      </div>
      <div class="bars" title="the first 64 components">
        {head.map((v, i) => (
          <span key={i} class={'bar ' + (v < 0 ? 'neg' : 'pos')} style={{ height: `${Math.max(1, (Math.abs(v) / max) * 100)}%` }} title={`[${i}] ${v}`} />
        ))}
      </div>
      <code class="small selectable">[{vector.slice(0, 12).map((v) => trim(v)).join(', ')}{vector.length > 12 ? ', …' : ''}]</code>
    </div>
  );
}

function Associations({ title, list, ns, testid }) {
  return (
    <div data-testid={testid}>
      <h4>
        {title} <span class="muted">({list.length})</span>
      </h4>
      {list.length ? (
        <table class="table compact">
          <tbody>
            {list.map((n) => {
              const c = conceptOf(n);
              const a = n.association || {};
              return (
                <tr key={`${a.source}|${a.target}|${a.type}`}>
                  <td>
                    <TypeTag type={a.type} />
                  </td>
                  <td class="num">{trim(a.confidence ?? 1)}</td>
                  <td>
                    <a href={routeHref(['concepts', ns], { id: c.id })}>{c.content || c.id}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        <div class="muted small">none</div>
      )}
    </div>
  );
}

function Detail({ ns, id, onDeleted }) {
  const [d, setD] = useState(null);
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    setD(null);
    setError(null);
    get(`api/namespaces/${enc(ns)}/concepts/${enc(id)}`).then(setD, setError);
  }, [ns, id]);
  return (
    <aside class="detail card" data-testid="concept-detail">
      <div class="row">
        <h3>Concept</h3>
        <a class="push" href={routeHref(['concepts', ns])}>
          close
        </a>
      </div>
      <ErrorBox error={error} />
      {d ? (
        <>
          <div class="muted small selectable">
            id <code>{d.concept.id}</code>
          </div>
          <p class="content selectable" data-testid="concept-content">
            {d.concept.content}
          </p>
          <dl class="kv">
            <dt>attributes</dt>
            <dd>
              <Attributes attrs={d.concept.attributes} />
            </dd>
            <dt>strength</dt>
            <dd>{trim(d.concept.strength ?? 1)}</dd>
            <dt>confidence</dt>
            <dd>{trim(d.concept.confidence ?? 1)}</dd>
            <dt>created</dt>
            <dd>{formatTime(d.concept.createTime)}</dd>
            <dt>updated</dt>
            <dd>{formatTime(d.concept.updateTime)}</dd>
          </dl>
          <VectorPreview vector={d.concept.vector} />
          <Associations title="Out" list={d.out || []} ns={ns} testid="assoc-out" />
          <Associations title="In" list={d.in || []} ns={ns} testid="assoc-in" />
          <div class="row">
            <a class="button" href={routeHref(['graph', ns], { start: d.concept.id })} data-testid="open-graph">
              Open in graph
            </a>
            <button class="danger" onClick={() => setConfirm(true)} data-testid="concept-delete">
              Delete
            </button>
          </div>
        </>
      ) : !error ? (
        <div class="muted">Loading…</div>
      ) : null}
      {confirm ? (
        <Confirm
          title="Delete concept"
          target={id}
          action="Delete concept"
          onCancel={() => setConfirm(false)}
          onConfirm={async () => {
            await del(`api/namespaces/${enc(ns)}/concepts/${enc(id)}`, undefined, { expect: 'none' });
            toast('ok', `Concept ${id} deleted, with its associations.`);
            setConfirm(false);
            onDeleted();
          }}
        >
          <p>Its associations in and out are deleted with it.</p>
        </Confirm>
      ) : null}
    </aside>
  );
}

export function Concepts({ route }) {
  const p = useStore(prefs);
  const ns = route.parts[1] || p.namespace;
  const selected = route.query.id || '';
  const [pageSize, setPageSize] = useState(50);
  const [filterText, setFilterText] = useState('');
  const [filter, setFilter] = useState('');
  // Page tokens of the pages seen so far: tokens[i] opens page i. The first token fixes the
  // point in time; "first page" starts a new view.
  const [tokens, setTokens] = useState(['']);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [reloadN, setReloadN] = useState(0);
  const [mode, setMode] = useState('HYBRID');
  const [query, setQuery] = useState('');
  const [k, setK] = useState(10);
  const [results, setResults] = useState(null);
  const [searchError, setSearchError] = useState(null);

  useEffect(() => {
    if (ns !== p.namespace) prefs.set({ namespace: ns });
  }, [ns]);

  const idx = tokens.length - 1;
  useEffect(() => {
    setError(null);
    get(`api/namespaces/${enc(ns)}/concepts`, { pageSize, pageToken: tokens[idx], filter })
      .then(setPage, (e) => {
        setError(e);
        setPage(null);
      });
  }, [ns, tokens, pageSize, filter, reloadN]);

  const first = () => {
    setTokens(['']);
    setReloadN((n) => n + 1);
  };
  const applyFilter = (e) => {
    e.preventDefault();
    try {
      parseFilter(filterText);
      setFilter(filterText.replace(/\s*([,=])\s*/g, '$1').trim());
      setTokens(['']);
      setError(null);
    } catch (err) {
      setError({ code: 'INVALID_FILTER', message: err.message });
    }
  };
  const search = async (e) => {
    e.preventDefault();
    setSearchError(null);
    try {
      const body = { k: Number(k) };
      if (mode === 'vector') body.vector = parseVector(query);
      else {
        body.text = query;
        body.mode = mode;
      }
      const f = parseFilter(filterText);
      if (Object.keys(f).length) body.filter = f;
      const r = await post(`api/namespaces/${enc(ns)}/search`, body);
      setResults(r.results || []);
    } catch (err) {
      setSearchError(err.status !== undefined ? err : { code: 'INVALID_ARGUMENT', message: err.message });
      setResults(null);
    }
  };
  const open = (id) => {
    location.hash = routeHref(['concepts', ns], { id });
  };

  return (
    <section class={selected ? 'with-detail' : ''}>
      <div class="toolbar">
        <h2>Concepts</h2>
        <NamespacePicker value={ns} onChange={(v) => (location.hash = routeHref(['concepts', v]))} />
      </div>
      <div class="split">
        <div class="split-main">
          <form class="card row wrap" onSubmit={search} data-testid="search-form">
            <select value={mode} onChange={(e) => setMode(e.currentTarget.value)} aria-label="search mode" data-testid="search-mode">
              <option value="HYBRID">words + meaning (hybrid)</option>
              <option value="KEYWORD">words (BM25)</option>
              <option value="VECTOR">meaning (text embedded)</option>
              <option value="vector">a vector</option>
            </select>
            <input
              class="grow"
              value={query}
              onInput={(e) => setQuery(e.currentTarget.value)}
              placeholder={mode === 'vector' ? '[0.1, 0.2, …] (the namespace dimension)' : 'text: its words and its meaning'}
              data-testid="search-input"
              required
            />
            <label class="inline">
              k <input type="number" min="1" max="1000" value={k} onInput={(e) => setK(e.currentTarget.value)} class="narrow" />
            </label>
            <button class="primary" type="submit" data-testid="search-submit">
              Search
            </button>
            {results ? (
              <button type="button" onClick={() => setResults(null)}>
                Clear
              </button>
            ) : null}
          </form>
          <ErrorBox error={searchError} />
          {results ? (
            <table class="table" data-testid="search-results">
              <thead>
                <tr>
                  <th class="num" title="HYBRID: reciprocal-rank fusion of the two lists">score</th>
                  <th class="num" title="similarity of the vectors">vector</th>
                  <th class="num" title="BM25 of the words">keyword</th>
                  <th>content</th>
                  <th>attributes</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {results.map((r) => {
                  const c = conceptOf(r);
                  return (
                    <tr key={c.id} class={'clickable' + (c.id === selected ? ' selected' : '')} onClick={() => open(c.id)}>
                      <td class="num score">{trim(r.score ?? 0)}</td>
                      <td class="num" data-testid="vector-score">{r.vectorScore === undefined ? '—' : trim(r.vectorScore)}</td>
                      <td class="num" data-testid="keyword-score">{r.keywordScore === undefined ? '—' : trim(r.keywordScore)}</td>
                      <td>{c.content}</td>
                      <td>
                        <Attributes attrs={c.attributes} />
                      </td>
                      <td>
                        <a href={routeHref(['graph', ns], { start: c.id })} onClick={(e) => e.stopPropagation()}>
                          graph
                        </a>
                      </td>
                    </tr>
                  );
                })}
                {results.length === 0 ? (
                  <tr>
                    <td colspan="4" class="muted">
                      No match.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          ) : null}

          <form class="row wrap" onSubmit={applyFilter}>
            <input class="grow" value={filterText} onInput={(e) => setFilterText(e.currentTarget.value)} placeholder="attribute filter: key=value,key2=value2" data-testid="filter-input" />
            <button type="submit">Filter</button>
            <label class="inline">
              page size
              <select value={pageSize} onChange={(e) => { setPageSize(Number(e.currentTarget.value)); setTokens(['']); }}>
                {[25, 50, 100, 250].map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            </label>
          </form>
          <ErrorBox error={error} />
          {page ? (
            <>
              <table class="table" data-testid="concept-table">
                <thead>
                  <tr>
                    <th>id</th>
                    <th>content</th>
                    <th>attributes</th>
                    <th>updated</th>
                  </tr>
                </thead>
                <tbody>
                  {(page.concepts || []).map((c) => (
                    <tr key={c.id} class={'clickable' + (c.id === selected ? ' selected' : '')} onClick={() => open(c.id)} data-id={c.id}>
                      <td class="small mono ellipsis">{c.id}</td>
                      <td>{c.content}</td>
                      <td>
                        <Attributes attrs={c.attributes} />
                      </td>
                      <td class="small">{formatTime(c.updateTime)}</td>
                    </tr>
                  ))}
                  {(page.concepts || []).length === 0 ? (
                    <tr>
                      <td colspan="4" class="muted">
                        No concepts{filter ? ' match the filter' : ''}.
                      </td>
                    </tr>
                  ) : null}
                </tbody>
              </table>
              <div class="row pager">
                <button onClick={first} disabled={idx === 0} title="a new point-in-time view">
                  ⇤ First
                </button>
                <button onClick={() => setTokens(tokens.slice(0, -1))} disabled={idx === 0} data-testid="page-prev">
                  ← Previous
                </button>
                <span class="muted small" data-testid="page-number">
                  page {idx + 1}
                  {filter ? ` · filter ${filter}` : ''} · point-in-time view
                </span>
                <button onClick={() => setTokens([...tokens, page.nextPageToken])} disabled={!page.nextPageToken} data-testid="page-next">
                  Next →
                </button>
              </div>
            </>
          ) : null}
        </div>
        {selected ? (
          <Detail
            ns={ns}
            id={selected}
            onDeleted={() => {
              setResults(null);
              location.hash = routeHref(['concepts', ns]);
              setReloadN((n) => n + 1);
            }}
          />
        ) : null}
      </div>
    </section>
  );
}

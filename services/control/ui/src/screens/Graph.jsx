import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post, enc } from '../api.js';
import { prefs, useStore } from '../store.js';
import { ErrorBox, NamespacePicker, TypeTag, TYPE_COLORS, toast } from '../components/common.jsx';
import { loadCytoscape, cyStyle } from '../cy.js';
import {
  ASSOCIATION_TYPES, emptyGraph, addRoot, expand, collapse, removeNode, setPinned, addPaths, pathHighlight, radialPosition, label,
} from '../lib/graph.js';
import { routeHref } from '../lib/urls.js';
import { trim } from '../lib/format.js';

function TypeFilter({ value, onChange, testid }) {
  return (
    <span class="type-filter" data-testid={testid}>
      {ASSOCIATION_TYPES.map((t) => (
        <label key={t} class="inline small">
          <input
            type="checkbox"
            checked={value.includes(t)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...value, t] : value.filter((x) => x !== t))}
          />
          <TypeTag type={t} />
        </label>
      ))}
      <span class="muted small">{value.length === 0 || value.length === ASSOCIATION_TYPES.length ? '(all types)' : ''}</span>
    </span>
  );
}

export function Graph({ route }) {
  const p = useStore(prefs);
  const ns = route.parts[1] || p.namespace;
  const startId = route.query.start || '';
  const box = useRef();
  const cyRef = useRef(null);
  const model = useRef(emptyGraph());
  const [version, setVersion] = useState(0);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState('');
  const [limit, setLimit] = useState(15);
  const [types, setTypes] = useState([]);
  const [direction, setDirection] = useState('BOTH');
  const [picks, setPicks] = useState([]); // up to two selected node ids, oldest first
  const [searchText, setSearchText] = useState('');
  const [hits, setHits] = useState(null);
  const [idText, setIdText] = useState('');
  const [paths, setPaths] = useState(null);
  const [activePath, setActivePath] = useState(-1);
  const [maxDepth, setMaxDepth] = useState(6);
  const [pathTypes, setPathTypes] = useState([]);
  const bump = () => setVersion((v) => v + 1);
  const picksRef = useRef(picks);
  picksRef.current = picks;
  const state = useRef({});
  state.current = { limit, types, direction, ns };

  // cytoscape: created once per namespace, destroyed on leave.
  useEffect(() => {
    let cy = null;
    let alive = true;
    model.current = emptyGraph();
    setPicks([]);
    setPaths(null);
    bump();
    loadCytoscape().then(
      (cytoscape) => {
        if (!alive) return;
        cy = cytoscape({
          container: box.current,
          style: cyStyle(),
          elements: [],
          minZoom: 0.1,
          maxZoom: 3,
          wheelSensitivity: 0.3,
          boxSelectionEnabled: false,
        });
        cyRef.current = cy;
        window.__engramCy = cy; // for the end-to-end test and for the curious operator's console
        cy.on('tap', 'node', (ev) => {
          const id = ev.target.id();
          const oe = ev.originalEvent || {};
          pick(id, oe.shiftKey || oe.ctrlKey || oe.metaKey);
        });
        cy.on('dbltap', 'node', (ev) => toggleExpand(ev.target.id()));
        cy.on('mouseover', 'edge', (ev) => ev.target.addClass('hover'));
        cy.on('mouseout', 'edge', (ev) => ev.target.removeClass('hover'));
        cy.on('dragfree', 'node', (ev) => {
          // a node dragged by hand stays where it was put
          pin(ev.target.id(), true);
        });
        if (startId) addStart(startId, true);
      },
      (e) => setError({ code: 'LOAD', message: `could not load the graph library: ${e.message}` }),
    );
    const onTheme = () => cy && cy.style(cyStyle());
    window.addEventListener('engram-theme', onTheme);
    return () => {
      alive = false;
      window.removeEventListener('engram-theme', onTheme);
      if (cy) cy.destroy();
      cyRef.current = null;
      if (window.__engramCy === cy) window.__engramCy = null;
    };
  }, [ns]);

  useEffect(() => {
    if (startId && cyRef.current && !model.current.nodes.has(startId)) addStart(startId, true);
  }, [startId]);

  // Reflect picks on the canvas.
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy) return;
    cy.nodes().removeClass('pick');
    for (const id of picks) cy.getElementById(id).addClass('pick');
  }, [picks, version]);

  const pick = (id, add) => {
    setPicks((cur) => {
      if (add) return [...cur.filter((x) => x !== id), id].slice(-2);
      return cur.length === 1 && cur[0] === id ? [] : [id];
    });
  };

  const syncClasses = () => {
    const cy = cyRef.current;
    if (!cy) return;
    for (const n of model.current.nodes.values()) {
      const el = cy.getElementById(n.id);
      el.toggleClass('root', !!n.root).toggleClass('expanded', !!n.expanded).toggleClass('pinned', !!n.pinned);
      if (n.pinned) el.lock();
      else el.unlock();
    }
  };

  const addElements = (added) => {
    const cy = cyRef.current;
    if (!cy || !added.length) return;
    cy.add(added);
    syncClasses();
    fitView();
  };

  // Fit everything, but never zoom in past 1.3 (a few nodes would fill the screen).
  const fitView = () => {
    const cy = cyRef.current;
    if (!cy) return;
    cy.fit(undefined, 50);
    if (cy.zoom() > 1.3) {
      cy.zoom(1.3);
      cy.center();
    }
  };

  const addStart = async (id, andExpand) => {
    setError(null);
    try {
      let concept = model.current.nodes.get(id)?.concept;
      if (!concept) concept = (await get(`api/namespaces/${enc(state.current.ns)}/concepts/${enc(id)}`)).concept;
      const cy = cyRef.current;
      const ext = cy && cy.nodes().length ? cy.nodes().boundingBox() : null;
      const pos = ext ? { x: ext.x2 + 200, y: (ext.y1 + ext.y2) / 2 } : { x: 0, y: 0 };
      const r = addRoot(model.current, concept, pos);
      model.current = r.model;
      addElements(r.added);
      setPicks([id]);
      bump();
      if (andExpand) await doExpand(id);
    } catch (e) {
      setError(e);
    }
  };

  const doExpand = async (id) => {
    const { limit: lim, types: ty, direction: dir, ns: n } = state.current;
    setBusy('Expanding…');
    setError(null);
    try {
      // Ask for more than the limit when filtering locally would drop some.
      const r = await get(`api/namespaces/${enc(n)}/concepts/${enc(id)}/neighbors`, {
        limit: lim,
        types: ty.length ? ty.join(',') : undefined,
        direction: dir,
      });
      const cy = cyRef.current;
      const c = cy.getElementById(id).position();
      const center = { x: c.x, y: c.y };
      const res = expand(model.current, id, r.neighbors || [], { limit: Number(lim), types: ty, positionOf: (i, k) => radialPosition(center, i, k, 110 + 6 * k) });
      model.current = res.model;
      addElements(res.added);
      if (!res.added.length) toast('ok', `${label(model.current.nodes.get(id)?.concept.content || id)}: no new neighbours${ty.length ? ' of the chosen types' : ''}.`);
      bump();
    } catch (e) {
      setError(e);
    }
    setBusy('');
  };

  const doCollapse = (id) => {
    const r = collapse(model.current, id);
    model.current = r.model;
    const cy = cyRef.current;
    for (const rid of r.removed) cy.getElementById(rid).remove();
    setPicks((cur) => cur.filter((x) => model.current.nodes.has(x)));
    syncClasses();
    bump();
  };

  const toggleExpand = (id) => {
    const n = model.current.nodes.get(id);
    if (n && n.expanded) doCollapse(id);
    else doExpand(id);
  };

  const pin = (id, on) => {
    model.current = setPinned(model.current, id, on);
    syncClasses();
    bump();
  };

  const remove = (id) => {
    const r = removeNode(model.current, id);
    model.current = r.model;
    for (const rid of r.removed) cyRef.current.getElementById(rid).remove();
    setPicks((cur) => cur.filter((x) => x !== id));
    bump();
  };

  const highlight = (list) => {
    const cy = cyRef.current;
    if (!cy) return;
    cy.elements().removeClass('hl dim');
    if (!list || !list.length) return;
    const h = pathHighlight(list);
    cy.elements().addClass('dim');
    for (const id of h.nodes) cy.getElementById(id).removeClass('dim').addClass('hl');
    for (const id of h.edges) cy.getElementById(id).removeClass('dim').addClass('hl');
  };

  const findPaths = async (mode) => {
    if (picks.length !== 2) return;
    const [source, target] = picks;
    setBusy(`Finding ${mode.toLowerCase()} paths…`);
    setError(null);
    try {
      const r = await post(`api/namespaces/${enc(ns)}/paths`, { source, target, mode, maxDepth: Number(maxDepth), maxPaths: 5, types: pathTypes });
      const cy = cyRef.current;
      const a = cy.getElementById(source).position();
      const b = cy.getElementById(target).position();
      const res = addPaths(model.current, r, (k) => ({ x: a.x + ((b.x - a.x) * (k + 1)) / 6 + 30 * (k % 2), y: a.y + ((b.y - a.y) * (k + 1)) / 6 + 60 }));
      model.current = res.model;
      addElements(res.added);
      const list = (r.paths || []).map((pp) => ({ ...pp, mode }));
      setPaths({ mode, list, truncated: !!r.truncated, concepts: r.concepts || {} });
      setActivePath(-1);
      highlight(list);
      bump();
    } catch (e) {
      setError(e);
    }
    setBusy('');
  };

  const exportPng = async () => {
    const cy = cyRef.current;
    if (!cy) return;
    const blob = await cy.png({ output: 'blob-promise', full: true, scale: 2, bg: getComputedStyle(document.documentElement).getPropertyValue('--bg').trim() || '#fff' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `engram-graph-${ns}.png`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };

  const relayout = () => {
    const cy = cyRef.current;
    if (!cy) return;
    cy.layout({ name: 'cose', animate: false, fit: true, padding: 40, nodeRepulsion: () => 8000, idealEdgeLength: () => 90 }).run();
  };

  const clear = () => {
    model.current = emptyGraph();
    cyRef.current && cyRef.current.elements().remove();
    setPicks([]);
    setPaths(null);
    bump();
  };

  const search = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await post(`api/namespaces/${enc(ns)}/search`, { text: searchText, k: 10 });
      setHits(r.results || []);
    } catch (err) {
      setError(err);
    }
  };

  const nodes = [...model.current.nodes.values()];
  const sel = picks.length ? model.current.nodes.get(picks[picks.length - 1]) : null;
  const conceptName = (id) => model.current.nodes.get(id)?.concept.content || (paths && paths.concepts[id]?.content) || id;

  return (
    <section class="graph-screen">
      <div class="toolbar">
        <h2>Graph explorer</h2>
        <NamespacePicker value={ns} onChange={(v) => (location.hash = routeHref(['graph', v]))} />
        <form class="row" onSubmit={search}>
          <input value={searchText} onInput={(e) => setSearchText(e.currentTarget.value)} placeholder="start from a text search" data-testid="graph-search" required />
          <button type="submit">Search</button>
        </form>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (idText.trim()) addStart(idText.trim(), false);
          }}
        >
          <input value={idText} onInput={(e) => setIdText(e.currentTarget.value)} placeholder="or a concept id" data-testid="graph-id" />
          <button type="submit">Add</button>
        </form>
      </div>
      {hits ? (
        <div class="hits card" data-testid="graph-hits">
          {hits.length === 0 ? <span class="muted">No match.</span> : null}
          {hits.map((h) => {
            const c = h.concept || h.node || {};
            return (
              <button
                key={c.id}
                class="hit"
                onClick={() => {
                  setHits(null);
                  addStart(c.id, true);
                }}
              >
                {label(c.content, 48)} <span class="muted small">{trim(h.score ?? 0)}</span>
              </button>
            );
          })}
          <button class="link" onClick={() => setHits(null)}>
            close
          </button>
        </div>
      ) : null}
      <div class="row wrap controls">
        <label class="inline">
          per expand
          <input type="number" min="1" max="1000" value={limit} onInput={(e) => setLimit(e.currentTarget.value)} class="narrow" data-testid="expand-limit" />
        </label>
        <label class="inline">
          direction
          <select value={direction} onChange={(e) => setDirection(e.currentTarget.value)}>
            <option value="BOTH">both</option>
            <option value="OUT">out</option>
            <option value="IN">in</option>
          </select>
        </label>
        <TypeFilter value={types} onChange={setTypes} testid="expand-types" />
        <span class="push" />
        <button onClick={relayout}>Re-layout</button>
        <button onClick={fitView}>Fit</button>
        <button onClick={exportPng} data-testid="export-png">
          Export PNG
        </button>
        <button onClick={clear}>Clear</button>
      </div>
      <ErrorBox error={error} onClose={() => setError(null)} />
      <div class="graph-layout">
        <div class="cy-wrap">
          <div class="cy" ref={box} data-testid="cy" />
          {nodes.length === 0 ? <div class="cy-empty muted">Search for a concept or give an id to start. Click a node to select it, shift-click a second one to find paths, double-click to expand or collapse.</div> : null}
          {busy ? <div class="cy-busy">{busy}</div> : null}
          <div class="legend small">
            {Object.entries(TYPE_COLORS).map(([t, c]) => (
              <span key={t} class={'legend-item t-' + t}>
                <span class={'swatch sw-' + t} /> {t.toLowerCase()}
              </span>
            ))}
            <span class="muted">width = confidence</span>
          </div>
        </div>
        <aside class="side">
          {sel ? (
            <div class="card" data-testid="graph-selected">
              <div class="muted small">selected</div>
              <p class="content">{sel.concept.content}</p>
              <div class="muted small selectable">
                <code>{sel.id}</code>
              </div>
              <div class="row wrap">
                <button class="primary" onClick={() => doExpand(sel.id)} data-testid="expand">
                  Expand
                </button>
                <button onClick={() => doCollapse(sel.id)} disabled={!sel.expanded} data-testid="collapse">
                  Collapse
                </button>
                <button onClick={() => pin(sel.id, !sel.pinned)} data-testid="pin">
                  {sel.pinned ? 'Unpin' : 'Pin'}
                </button>
                <button onClick={() => remove(sel.id)}>Remove</button>
                <a class="button" href={routeHref(['concepts', ns], { id: sel.id })}>
                  Details
                </a>
              </div>
            </div>
          ) : null}
          <div class="card" data-testid="path-finder">
            <h4>Paths</h4>
            <div class="small">
              from <strong>{picks[0] ? label(conceptName(picks[0]), 30) : '—'}</strong>
              <br />
              to <strong>{picks[1] ? label(conceptName(picks[1]), 30) : '—'}</strong>
            </div>
            {picks.length < 2 ? <div class="muted small">Select two nodes (shift-click, or tick them below).</div> : null}
            <label class="inline small">
              max depth <input type="number" min="1" max="20" value={maxDepth} onInput={(e) => setMaxDepth(e.currentTarget.value)} class="narrow" />
            </label>
            <TypeFilter value={pathTypes} onChange={setPathTypes} />
            <div class="row">
              <button class="primary" disabled={picks.length !== 2} onClick={() => findPaths('BEST')} data-testid="path-best">
                Best
              </button>
              <button disabled={picks.length !== 2} onClick={() => findPaths('SHORTEST')} data-testid="path-shortest">
                Shortest
              </button>
              {paths ? (
                <button
                  class="link"
                  onClick={() => {
                    setPaths(null);
                    highlight(null);
                  }}
                >
                  clear
                </button>
              ) : null}
            </div>
            {paths ? (
              <div data-testid="path-results">
                <div class="muted small">
                  {paths.list.length} {paths.mode.toLowerCase()} path{paths.list.length === 1 ? '' : 's'}
                  {paths.truncated ? ' (search truncated)' : ''}
                </div>
                {paths.list.map((pp, i) => (
                  <button
                    key={i}
                    class={'path-item' + (activePath === i ? ' active' : '')}
                    onClick={() => {
                      const on = activePath === i ? -1 : i;
                      setActivePath(on);
                      highlight(on < 0 ? paths.list : [pp]);
                    }}
                    data-testid="path-item"
                  >
                    <span class="num">{trim(pp.confidence ?? 0)}</span> {(pp.hops || []).length} hop{(pp.hops || []).length === 1 ? '' : 's'}:{' '}
                    {(pp.conceptIds || []).map((id) => label(conceptName(id), 14)).join(' → ')}
                  </button>
                ))}
                {paths.list.length === 0 ? <div class="muted small">No path within {maxDepth} hops.</div> : null}
              </div>
            ) : null}
          </div>
          <div class="card node-list" data-testid="node-list">
            <h4>
              Nodes <span class="muted">({nodes.length})</span>
            </h4>
            {nodes.map((n) => (
              <label key={n.id} class="node-row small" data-node={n.id}>
                <input
                  type="checkbox"
                  checked={picks.includes(n.id)}
                  onChange={(e) => (e.currentTarget.checked ? pick(n.id, true) : setPicks((cur) => cur.filter((x) => x !== n.id)))}
                />
                <span class={n.root ? 'strong' : ''}>{label(n.concept.content || n.id, 40)}</span>
                {n.pinned ? <span title="pinned"> 📌</span> : null}
                {n.expanded ? <span class="muted" title="expanded"> ◆</span> : null}
              </label>
            ))}
          </div>
        </aside>
      </div>
    </section>
  );
}

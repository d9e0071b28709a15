import { useEffect, useRef, useState } from 'preact/hooks';
import { post, enc } from '../api.js';
import { prefs, reasonHistory, useStore } from '../store.js';
import { ErrorBox, NamespacePicker, TypeTag } from '../components/common.jsx';
import { ASSOCIATION_TYPES, pathSteps, nodeElement, edgeElement, pathHighlight } from '../lib/graph.js';
import { routeHref } from '../lib/urls.js';
import { trim } from '../lib/format.js';
import { loadCytoscape, cyStyle } from '../cy.js';

// hybrid's ReasonRequest has no decay: paths decay by 0.85 per hop (docs/hybrid.md), so the
// tester shows it instead of sending it (engram-control refuses unknown fields).
const DEFAULTS = { k: 10, maxDepth: 4, maxPaths: 5, minConfidence: 0.3 };

function Bar({ name, value, min, testid }) {
  const v = typeof value === 'number' ? value : 0;
  return (
    <div class="cbar" data-testid={testid}>
      <span class="cbar-name">{name}</span>
      <span class="cbar-track">
        <span class={'cbar-fill' + (min !== undefined ? (v >= min ? ' ok' : ' crit') : '')} style={{ width: `${Math.round(Math.min(1, Math.max(0, v)) * 100)}%` }} />
        {min !== undefined ? <span class="cbar-min" style={{ left: `${Math.round(min * 100)}%` }} title={`minConfidence ${min}`} /> : null}
      </span>
      <span class="num">{trim(v)}</span>
    </div>
  );
}

/** A path drawn as a chain: concept → [TYPE conf] → concept …, arrows in the traversal direction. */
export function PathChain({ path, conceptOf, ns, index }) {
  const steps = pathSteps(path, conceptOf);
  return (
    <div class="chain" data-testid="reason-path">
      <span class="chain-conf" title="path confidence: product of hop confidences × decay^hops">
        #{index + 1} <strong>{trim(path.confidence ?? 0)}</strong>
      </span>
      {steps.map((s, i) =>
        s.kind === 'concept' ? (
          <a key={i} class="chain-node" href={routeHref(['concepts', ns], { id: s.id })} title={s.id}>
            {(s.concept && s.concept.content) || s.id}
          </a>
        ) : (
          <span key={i} class={'chain-hop t-' + (s.hop.type || 'SEMANTIC')} data-testid="reason-hop" title={`${s.hop.source} → ${s.hop.target} as stored`}>
            <span class="arrow">{s.forward ? '' : '←'}</span>
            <TypeTag type={s.hop.type} /> <span class="num">{trim(s.hop.confidence ?? 1)}</span>
            <span class="arrow">{s.forward ? '→' : ''}</span>
          </span>
        ),
      )}
    </div>
  );
}

/** All paths of an answer in one small cytoscape view (lazy-loaded). */
function PathGraph({ answer, conceptOf }) {
  const box = useRef();
  useEffect(() => {
    let cy = null;
    let alive = true;
    const paths = answer.paths || [];
    if (!paths.length) return;
    loadCytoscape().then((cytoscape) => {
      if (!alive) return;
      const els = new Map();
      for (const p of paths) {
        for (const id of p.conceptIds || []) if (!els.has(id)) els.set(id, nodeElement(conceptOf(id) || { id, content: id }));
        for (const h of p.hops || []) {
          const e = edgeElement(h);
          if (!els.has(e.data.id)) els.set(e.data.id, e);
        }
      }
      cy = cytoscape({
        container: box.current,
        style: cyStyle(),
        elements: [...els.values()],
        layout: { name: 'breadthfirst', directed: false, roots: [...new Set(paths.map((p) => (p.conceptIds || [])[0]).filter(Boolean))], spacingFactor: 1.1, padding: 20 },
        minZoom: 0.2,
        maxZoom: 2,
        userZoomingEnabled: true,
        boxSelectionEnabled: false,
      });
      // the best path stands out
      const h = pathHighlight([paths[0]]);
      for (const id of [...h.nodes, ...h.edges]) cy.getElementById(id).addClass('hl');
    });
    return () => {
      alive = false;
      if (cy) cy.destroy();
    };
  }, [answer]);
  if (!(answer.paths || []).length) return null;
  return <div class="cy small-cy" ref={box} data-testid="reason-graph" />;
}

function Result({ item, ns }) {
  const r = item.answer;
  const concepts = new Map();
  for (const c of r.pathConcepts || []) concepts.set(c.id, c);
  for (const s of r.support || []) {
    const c = s.node || s.concept;
    if (c && !concepts.has(c.id)) concepts.set(c.id, c);
  }
  if (r.answer) concepts.set(r.answer.id, r.answer);
  for (const a of r.answers || []) if (!concepts.has(a.id)) concepts.set(a.id, a);
  if (r.bestGuess && !concepts.has(r.bestGuess.id)) concepts.set(r.bestGuess.id, r.bestGuess);
  const conceptOf = (id) => concepts.get(id);
  const conf = r.confidence || {};
  const min = typeof r.minConfidence === 'number' ? r.minConfidence : item.params.minConfidence;
  const confident = !!r.confident;
  const guess = r.answer || r.bestGuess;
  // Co-answers: everything the answering sense states as directly (e.g. both kinds of a dog).
  const answers = (r.answers || []).length ? r.answers : r.answer ? [r.answer] : [];
  return (
    <div class="reason-result" data-testid="reason-result">
      <div class={'verdict card ' + (confident ? 'ok' : 'warn')} data-testid="verdict" data-confident={String(confident)}>
        <div class="muted small">“{item.question}”</div>
        {confident ? (
          <>
            <div class="verdict-label ok">{answers.length > 1 ? `Answered (${answers.length} answers)` : 'Answered'}</div>
            {answers.map((a) => (
              <div class="answer" data-testid="answer" key={a.id}>
                {a.content}
              </div>
            ))}
          </>
        ) : (
          <>
            <div class="verdict-label warn">I don't know</div>
            <div class="small">
              {(conf.final ?? 0) < min
                ? `The best candidate's confidence ${trim(conf.final ?? 0)} is below minConfidence ${min}.`
                : `The best candidate (${trim(conf.final ?? 0)}) is hardly better supported than another answer (see the explanation).`}
              {guess ? (
                <>
                  {' '}
                  Best guess: <em>{guess.content}</em>
                </>
              ) : (
                ' Nothing was found.'
              )}
            </div>
          </>
        )}
        {r.explanation ? <p class="explanation small">{r.explanation}</p> : null}
      </div>
      <div class="card">
        <h4>Confidence</h4>
        <Bar name="final" value={conf.final} min={min} testid="conf-final" />
        <Bar name="graph" value={conf.graph} />
        <Bar name="semantic" value={conf.semantic} />
        <Bar name="consensus" value={conf.consensus} />
        <div class="muted small">
          final = 1 − (1 − semantic × graph) × (1 − w × consensus); the gate answers when final ≥ minConfidence.
        </div>
      </div>
      <div class="card">
        <h4>
          Paths <span class="muted">({(r.paths || []).length})</span>
        </h4>
        {(r.paths || []).map((p, i) => (
          <PathChain key={i} path={p} conceptOf={conceptOf} ns={ns} index={i} />
        ))}
        {(r.paths || []).length === 0 ? <div class="muted small">No path: the answer (if any) is a seed reached by no association.</div> : null}
        <PathGraph answer={r} conceptOf={conceptOf} />
      </div>
      <div class="card" data-testid="support">
        <h4>
          Semantic support <span class="muted">({(r.support || []).length} seeds)</span>
        </h4>
        <table class="table compact">
          <tbody>
            {(r.support || []).map((s, i) => {
              const c = s.node || s.concept || {};
              return (
                <tr key={c.id || i}>
                  <td class="num">{trim(s.score ?? 0)}</td>
                  <td>
                    <a href={routeHref(['concepts', ns], { id: c.id })}>{c.content || c.id}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {r.stats ? (
          <div class="muted small">
            {r.stats.seeds ?? 0} seeds, {r.stats.nodesExpanded ?? 0} concepts expanded, {r.stats.pathsExplored ?? 0} partial paths scored
            {r.stats.truncated ? ', budget ran out (truncated)' : ''}
          </div>
        ) : null}
      </div>
    </div>
  );
}

export function Reason({ route }) {
  const p = useStore(prefs);
  const ns = route.parts[1] || p.namespace;
  const h = useStore(reasonHistory);
  const [question, setQuestion] = useState('');
  const [params, setParams] = useState(DEFAULTS);
  const [types, setTypes] = useState([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [shown, setShown] = useState(h.items.length ? h.items[0].id : null);

  const set = (k) => (e) => setParams({ ...params, [k]: Number(e.currentTarget.value) });
  const ask = async (e) => {
    e.preventDefault();
    if (!question.trim()) return;
    setBusy(true);
    setError(null);
    const body = { question: question.trim(), ...params, types };
    try {
      const started = performance.now();
      const answer = await post(`api/namespaces/${enc(ns)}/reason`, body);
      const item = { id: Date.now() + Math.random(), ns, question: body.question, params: { ...params }, types, answer, ms: performance.now() - started, at: new Date() };
      reasonHistory.set((s) => ({ items: [item, ...s.items].slice(0, 50) }));
      setShown(item.id);
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };
  const item = h.items.find((x) => x.id === shown);

  return (
    <section>
      <div class="toolbar">
        <h2>Reasoning tester</h2>
        <NamespacePicker value={ns} onChange={(v) => (location.hash = routeHref(['reason', v]))} />
      </div>
      <div class="split">
        <div class="split-main">
          <form class="card reason-form" onSubmit={ask} data-testid="reason-form">
            <textarea rows="2" value={question} onInput={(e) => setQuestion(e.currentTarget.value)} placeholder="Ask a question, e.g. what causes rain?" data-testid="question" required />
            <div class="row wrap small">
              <label class="inline">
                k <input type="number" min="1" max="100" value={params.k} onInput={set('k')} class="narrow" />
              </label>
              <label class="inline">
                maxDepth <input type="number" min="1" max="10" value={params.maxDepth} onInput={set('maxDepth')} class="narrow" />
              </label>
              <label class="inline">
                maxPaths <input type="number" min="1" max="100" value={params.maxPaths} onInput={set('maxPaths')} class="narrow" />
              </label>
              <label class="inline">
                minConfidence <input type="number" min="0" max="1" step="0.05" value={params.minConfidence} onInput={set('minConfidence')} class="narrow" data-testid="min-confidence" />
              </label>
              <span class="muted" title="fixed by engram-hybrid (docs/hybrid.md)">
                decay 0.85 per hop
              </span>
            </div>
            <div class="row wrap small">
              types:
              {ASSOCIATION_TYPES.map((t) => (
                <label key={t} class="inline">
                  <input type="checkbox" checked={types.includes(t)} onChange={(e) => setTypes(e.currentTarget.checked ? [...types, t] : types.filter((x) => x !== t))} />
                  <TypeTag type={t} />
                </label>
              ))}
              <span class="muted">{types.length ? '' : '(all)'}</span>
              <span class="push" />
              <button class="primary" type="submit" disabled={busy} data-testid="ask">
                {busy ? 'Reasoning…' : 'Ask'}
              </button>
            </div>
          </form>
          <ErrorBox error={error} />
          {item ? <Result item={item} ns={item.ns} /> : <div class="muted">Ask a question: the answer comes with the paths that support it.</div>}
        </div>
        <aside class="side history" data-testid="reason-history">
          <h4>This session's questions</h4>
          {h.items.length === 0 ? <div class="muted small">none yet</div> : null}
          {h.items.map((x) => (
            <button key={x.id} class={'history-item' + (x.id === shown ? ' active' : '')} onClick={() => setShown(x.id)}>
              <span class={'dot ' + (x.answer.confident ? 'ok' : 'warn')} />
              <span class="q">{x.question}</span>
              <span class="muted small">
                {x.ns} · {x.answer.confident ? 'answered' : "don't know"} · {Math.round(x.ms)} ms
              </span>
            </button>
          ))}
          {h.items.length ? (
            <button class="link small" onClick={() => reasonHistory.set({ items: [] })}>
              clear history
            </button>
          ) : null}
        </aside>
      </div>
    </section>
  );
}

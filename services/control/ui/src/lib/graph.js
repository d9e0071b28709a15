// The graph explorer's model, kept apart from cytoscape so it can be unit-tested:
// which concepts and associations are on screen, who expanded whom, what is pinned, and what a
// path highlight covers. Each operation returns a new model plus the cytoscape elements to add
// or the ids to remove.

export const ASSOCIATION_TYPES = ['SEMANTIC', 'CAUSAL', 'TEMPORAL', 'HIERARCHICAL', 'COMPOSITIONAL'];

/** A stable edge id: one association per (source, target, type). */
export function edgeId(a) {
  return 'e' + JSON.stringify([a.source, a.target, a.type]);
}

export function label(text, max = 28) {
  const t = String(text ?? '').replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

/** Edge width in px for a confidence in [0, 1]. */
export function edgeWidth(confidence) {
  const c = typeof confidence === 'number' && Number.isFinite(confidence) ? Math.min(1, Math.max(0, confidence)) : 1;
  return Math.round((1 + 6 * c) * 10) / 10;
}

/** A neighbor from the API ({concept|node, association, direction}) -> its concept. */
export function neighborConcept(n) {
  return n.concept || n.node || {};
}

export function nodeElement(concept, position) {
  const el = {
    group: 'nodes',
    data: { id: concept.id, label: label(concept.content || concept.id), content: concept.content || '' },
  };
  if (position) el.position = { x: position.x, y: position.y };
  return el;
}

export function edgeElement(a) {
  const confidence = typeof a.confidence === 'number' ? a.confidence : 1;
  return {
    group: 'edges',
    data: {
      id: edgeId(a),
      source: a.source,
      target: a.target,
      type: a.type || 'SEMANTIC',
      confidence,
      width: edgeWidth(confidence),
      label: `${a.type || 'SEMANTIC'} ${confidence.toFixed(2)}`,
    },
  };
}

export function emptyGraph() {
  return { nodes: new Map(), edges: new Map() };
}

function clone(m) {
  const nodes = new Map();
  for (const [k, v] of m.nodes) nodes.set(k, { ...v, addedBy: new Set(v.addedBy) });
  return { nodes, edges: new Map(m.edges) };
}

/** Adds a starting concept (a root: never removed by a collapse). */
export function addRoot(model, concept, position) {
  const m = clone(model);
  const added = [];
  const cur = m.nodes.get(concept.id);
  if (cur) cur.root = true;
  else {
    m.nodes.set(concept.id, { id: concept.id, concept, root: true, pinned: false, expanded: false, addedBy: new Set() });
    added.push(nodeElement(concept, position));
  }
  return { model: m, added };
}

/**
 * Expands `centerId` with the neighbours the API returned: keeps those of the allowed types (all
 * when `types` is empty), highest confidence first, at most `limit`; adds the nodes not yet shown and
 * the edges not yet shown. `positionOf(i, n)` may place the i-th of n new nodes.
 */
export function expand(model, centerId, neighbors, { limit = 25, types = [], positionOf } = {}) {
  const m = clone(model);
  const center = m.nodes.get(centerId);
  if (!center) throw new Error(`expand: ${centerId} is not in the graph`);
  center.expanded = true;
  const chosen = neighbors
    .filter((n) => n.association && (types.length === 0 || types.includes(n.association.type)))
    .sort((a, b) => (b.association.confidence ?? 1) - (a.association.confidence ?? 1))
    .slice(0, limit);
  const fresh = chosen.filter((n) => !m.nodes.has(neighborConcept(n).id));
  const freshIds = [...new Set(fresh.map((n) => neighborConcept(n).id))];
  const added = [];
  for (const n of chosen) {
    const c = neighborConcept(n);
    if (!c.id) continue;
    let node = m.nodes.get(c.id);
    if (!node) {
      node = { id: c.id, concept: c, root: false, pinned: false, expanded: false, addedBy: new Set() };
      m.nodes.set(c.id, node);
      const i = freshIds.indexOf(c.id);
      added.push(nodeElement(c, positionOf ? positionOf(i, freshIds.length) : undefined));
    }
    if (c.id !== centerId) node.addedBy.add(centerId);
    const id = edgeId(n.association);
    if (!m.edges.has(id)) {
      m.edges.set(id, n.association);
      added.push(edgeElement(n.association));
    }
  }
  return { model: m, added, newNodeIds: freshIds, shown: chosen.length };
}

/**
 * Collapses `centerId`: every node it brought in that nothing else keeps (another expansion,
 * root, pin, a path) is removed, recursively with what those nodes brought in, and so are
 * the edges touching removed nodes. Returns the removed node and edge ids.
 */
export function collapse(model, centerId) {
  const m = clone(model);
  const center = m.nodes.get(centerId);
  if (!center) return { model: m, removed: [] };
  const removedNodes = new Set();
  const visit = (id) => {
    const node = m.nodes.get(id);
    if (node) node.expanded = false;
    for (const [cid, child] of m.nodes) {
      if (removedNodes.has(cid) || !child.addedBy.has(id)) continue;
      child.addedBy.delete(id);
      const keptByOthers = [...child.addedBy].some((x) => !removedNodes.has(x));
      if (!keptByOthers && !child.root && !child.pinned && !child.onPath && cid !== centerId) {
        removedNodes.add(cid);
        visit(cid);
      }
    }
  };
  visit(centerId);
  const removed = [];
  for (const id of removedNodes) {
    m.nodes.delete(id);
    removed.push(id);
  }
  for (const [id, a] of m.edges) {
    if (removedNodes.has(a.source) || removedNodes.has(a.target)) {
      m.edges.delete(id);
      removed.push(id);
    }
  }
  return { model: m, removed };
}

/** Removes one node (and its edges) whatever kept it. */
export function removeNode(model, id) {
  const m = clone(model);
  const removed = [];
  if (m.nodes.delete(id)) removed.push(id);
  for (const n of m.nodes.values()) n.addedBy.delete(id);
  for (const [eid, a] of m.edges) {
    if (a.source === id || a.target === id) {
      m.edges.delete(eid);
      removed.push(eid);
    }
  }
  return { model: m, removed };
}

export function setPinned(model, id, pinned) {
  const m = clone(model);
  const n = m.nodes.get(id);
  if (n) n.pinned = pinned;
  return m;
}

/**
 * Adds what the paths answer ({paths:[{conceptIds, hops, confidence}], concepts:{id: concept}})
 * brings that is not on screen yet. Path nodes are kept by collapses (onPath).
 */
export function addPaths(model, answer, positionOf) {
  const m = clone(model);
  const added = [];
  const concepts = answer.concepts || {};
  const conceptOf = (id) => concepts[id] || (answer.pathConcepts || []).find((c) => c.id === id) || { id, content: id };
  let k = 0;
  for (const p of answer.paths || []) {
    for (const id of p.conceptIds || []) {
      let node = m.nodes.get(id);
      if (!node) {
        node = { id, concept: conceptOf(id), root: false, pinned: false, expanded: false, addedBy: new Set() };
        m.nodes.set(id, node);
        added.push(nodeElement(node.concept, positionOf ? positionOf(k++) : undefined));
      }
      node.onPath = true;
    }
    for (const h of p.hops || []) {
      const id = edgeId(h);
      if (!m.edges.has(id)) {
        m.edges.set(id, h);
        added.push(edgeElement(h));
      }
    }
  }
  return { model: m, added };
}

/** Node and edge ids covered by the given paths (for highlighting). */
export function pathHighlight(paths) {
  const nodes = new Set();
  const edges = new Set();
  for (const p of paths || []) {
    for (const id of p.conceptIds || []) nodes.add(id);
    for (const h of p.hops || []) edges.add(edgeId(h));
  }
  return { nodes, edges };
}

/**
 * A path as a list of steps for drawing a chain: [{concept}, {hop, forward}, {concept}, ...];
 * `forward` is false when the hop is traversed against its stored direction.
 */
export function pathSteps(path, conceptOf) {
  const ids = path.conceptIds || [];
  const hops = path.hops || [];
  const steps = [];
  ids.forEach((id, i) => {
    steps.push({ kind: 'concept', id, concept: conceptOf(id) });
    if (i < hops.length) {
      const h = hops[i];
      steps.push({ kind: 'hop', hop: h, forward: h.source === id });
    }
  });
  return steps;
}

/** Positions on a circle around `center`, for i of n new nodes. */
export function radialPosition(center, i, n, radius = 140) {
  const angle = (2 * Math.PI * i) / Math.max(1, n) - Math.PI / 2;
  const r = radius + (n > 12 ? 40 * (i % 2) : 0);
  return { x: Math.round(center.x + r * Math.cos(angle)), y: Math.round(center.y + r * Math.sin(angle)) };
}

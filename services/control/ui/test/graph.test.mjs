import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  emptyGraph, addRoot, expand, collapse, removeNode, setPinned, addPaths, pathHighlight,
  edgeId, edgeWidth, pathSteps, radialPosition, nodeElement, label,
} from '../src/lib/graph.js';

const c = (id) => ({ id, content: `content of ${id}` });
const nb = (from, to, type = 'SEMANTIC', confidence = 0.5, dir = 'OUT') => ({
  concept: c(to),
  association: { source: dir === 'OUT' ? from : to, target: dir === 'OUT' ? to : from, type, confidence },
  direction: dir,
});

test('expand adds new nodes and edges, respects limit and type filter, highest confidence first', () => {
  let { model, added } = addRoot(emptyGraph(), c('a'));
  assert.equal(added.length, 1);
  const r = expand(model, 'a', [nb('a', 'b', 'SEMANTIC', 0.2), nb('a', 'c', 'CAUSAL', 0.9), nb('a', 'd', 'SEMANTIC', 0.7)], { limit: 2, types: [] });
  assert.deepEqual(r.newNodeIds, ['c', 'd']);
  assert.equal(r.added.filter((e) => e.group === 'nodes').length, 2);
  assert.equal(r.added.filter((e) => e.group === 'edges').length, 2);
  const r2 = expand(r.model, 'a', [nb('a', 'b', 'SEMANTIC', 0.2), nb('a', 'c', 'CAUSAL', 0.9)], { limit: 10, types: ['SEMANTIC'] });
  assert.deepEqual(r2.newNodeIds, ['b']);
  assert.equal(r2.added.length, 2);
  // expanding again adds nothing
  const r3 = expand(r2.model, 'a', [nb('a', 'b'), nb('a', 'c', 'CAUSAL', 0.9)], {});
  assert.equal(r3.added.length, 0);
  assert.throws(() => expand(r3.model, 'zz', [], {}), /not in the graph/);
});

test('neighbours given as {node} (protobuf JSON) work too, and incoming edges keep their direction', () => {
  const { model } = addRoot(emptyGraph(), c('a'));
  const r = expand(model, 'a', [{ node: c('x'), association: { source: 'x', target: 'a', type: 'CAUSAL', confidence: 1 }, direction: 'IN' }], {});
  const e = r.added.find((x) => x.group === 'edges');
  assert.equal(e.data.source, 'x');
  assert.equal(e.data.target, 'a');
  assert.equal(e.data.width, 7);
});

test('collapse removes what only this expansion brought, recursively, but keeps roots, pins, shared nodes', () => {
  let m = addRoot(emptyGraph(), c('a')).model;
  m = expand(m, 'a', [nb('a', 'b'), nb('a', 'c'), nb('a', 'p')], {}).model;
  m = expand(m, 'b', [nb('b', 'd'), nb('b', 'c')], {}).model; // c now kept by a and b
  m = setPinned(m, 'p', true);
  m = addRoot(m, c('z')).model;
  m = expand(m, 'z', [nb('z', 'd')], {}).model; // d kept by b and z
  const r = collapse(m, 'a');
  const ids = new Set(r.model.nodes.keys());
  assert.deepEqual([...ids].sort(), ['a', 'd', 'p', 'z']);
  assert.ok(r.removed.includes('b') && r.removed.includes('c'));
  assert.ok(r.removed.includes(edgeId({ source: 'a', target: 'b', type: 'SEMANTIC' })));
  assert.ok(r.model.edges.has(edgeId({ source: 'a', target: 'p', type: 'SEMANTIC' })));
  assert.ok(r.model.edges.has(edgeId({ source: 'z', target: 'd', type: 'SEMANTIC' })));
  assert.equal(r.model.nodes.get('a').expanded, false);
  // the input model is unchanged
  assert.ok(m.nodes.has('b'));
});

test('removeNode drops the node and its edges', () => {
  let m = addRoot(emptyGraph(), c('a')).model;
  m = expand(m, 'a', [nb('a', 'b'), nb('a', 'c')], {}).model;
  const r = removeNode(m, 'b');
  assert.deepEqual(r.removed.length, 2);
  assert.equal(r.model.edges.size, 1);
});

const PATHS = {
  paths: [
    { conceptIds: ['a', 'm', 'b'], hops: [{ source: 'a', target: 'm', type: 'CAUSAL', confidence: 0.9 }, { source: 'b', target: 'm', type: 'SEMANTIC', confidence: 0.8 }], confidence: 0.52 },
    { conceptIds: ['a', 'b'], hops: [{ source: 'a', target: 'b', type: 'TEMPORAL', confidence: 0.4 }], confidence: 0.34 },
  ],
  concepts: { a: c('a'), m: c('m'), b: c('b') },
};

test('addPaths adds missing path nodes and hops; path nodes survive a collapse', () => {
  let m = addRoot(emptyGraph(), c('a')).model;
  const r = addPaths(m, PATHS);
  assert.deepEqual(r.added.filter((e) => e.group === 'nodes').map((e) => e.data.id), ['m', 'b']);
  assert.equal(r.added.filter((e) => e.group === 'edges').length, 3);
  assert.equal(r.added[0].data.content, 'content of m');
  m = expand(r.model, 'a', [nb('a', 'm')], {}).model;
  assert.ok(collapse(m, 'a').model.nodes.has('m'));
});

test('pathHighlight covers nodes and edges of the chosen paths', () => {
  const h = pathHighlight(PATHS.paths);
  assert.deepEqual([...h.nodes].sort(), ['a', 'b', 'm']);
  assert.equal(h.edges.size, 3);
  assert.ok(h.edges.has(edgeId({ source: 'b', target: 'm', type: 'SEMANTIC' })));
  assert.equal(pathHighlight([PATHS.paths[1]]).edges.size, 1);
});

test('pathSteps alternates concepts and hops and knows the traversal direction', () => {
  const steps = pathSteps(PATHS.paths[0], (id) => PATHS.concepts[id]);
  assert.deepEqual(steps.map((s) => s.kind), ['concept', 'hop', 'concept', 'hop', 'concept']);
  assert.equal(steps[1].forward, true);
  assert.equal(steps[3].forward, false, 'm <- b traversed against the stored direction');
});

test('small helpers', () => {
  assert.equal(edgeWidth(0), 1);
  assert.equal(edgeWidth(1), 7);
  assert.equal(edgeWidth(undefined), 7);
  assert.equal(edgeWidth(2), 7);
  assert.equal(label('a   b\nc'), 'a b c');
  assert.equal(label('x'.repeat(40), 10).length, 10);
  assert.deepEqual(nodeElement(c('q'), { x: 1, y: 2 }).position, { x: 1, y: 2 });
  const p = radialPosition({ x: 0, y: 0 }, 0, 4, 100);
  assert.deepEqual(p, { x: 0, y: -100 });
});

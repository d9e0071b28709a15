// cytoscape.js, loaded on demand (dynamic import) by the graph screens only, plus the shared
// stylesheet: edges styled by association type, width by confidence.
import { TYPE_COLORS } from './components/common.jsx';

let loading = null;

/** Loads cytoscape once. */
export function loadCytoscape() {
  // cytoscape prepends a <style> element unless one with this id exists; a strict CSP
  // (style-src 'self') would refuse it, so a placeholder takes its place and style.css carries
  // the one rule it holds.
  if (!document.getElementById('__________cytoscape_stylesheet')) {
    const m = document.createElement('meta');
    m.id = '__________cytoscape_stylesheet';
    document.head.appendChild(m);
  }
  loading = loading || import('cytoscape').then((m) => m.default || m);
  return loading;
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function cyStyle() {
  const fg = cssVar('--fg', '#111');
  const bg = cssVar('--bg', '#fff');
  const node = cssVar('--node', '#60a5fa');
  const accent = '#db2777';
  const hl = '#facc15';
  const styles = [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        'font-size': 10,
        color: fg,
        'text-valign': 'bottom',
        'text-margin-y': 4,
        'text-wrap': 'ellipsis',
        'text-max-width': '140px',
        'text-background-color': bg,
        'text-background-opacity': 0.75,
        'text-background-padding': '1px',
        'background-color': node,
        width: 18,
        height: 18,
        'border-width': 1,
        'border-color': fg,
        'border-opacity': 0.3,
      },
    },
    { selector: 'node.root', style: { 'background-color': '#2563eb', width: 24, height: 24 } },
    { selector: 'node.expanded', style: { shape: 'round-diamond' } },
    { selector: 'node.pinned', style: { 'border-width': 3, 'border-color': '#d97706', 'border-opacity': 1 } },
    { selector: 'node.pick', style: { 'border-width': 4, 'border-color': accent, 'border-opacity': 1 } },
    {
      selector: 'edge',
      style: {
        width: 'data(width)',
        'curve-style': 'bezier',
        'line-color': TYPE_COLORS.SEMANTIC,
        'target-arrow-color': TYPE_COLORS.SEMANTIC,
        'target-arrow-shape': 'triangle',
        'arrow-scale': 0.8,
        opacity: 0.8,
        'font-size': 9,
        color: fg,
        'text-background-color': bg,
        'text-background-opacity': 0.8,
        'text-rotation': 'autorotate',
      },
    },
    ...Object.entries(TYPE_COLORS).map(([t, c]) => ({
      selector: `edge[type = "${t}"]`,
      style: { 'line-color': c, 'target-arrow-color': c },
    })),
    { selector: 'edge[type = "TEMPORAL"]', style: { 'line-style': 'dashed' } },
    { selector: 'edge[type = "COMPOSITIONAL"]', style: { 'line-style': 'dotted' } },
    { selector: 'edge.hover, edge.hl', style: { label: 'data(label)' } },
    { selector: '.hl', style: { 'underlay-color': hl, 'underlay-opacity': 0.55, 'underlay-padding': 5, opacity: 1 } },
    { selector: '.dim', style: { opacity: 0.18 } },
    { selector: 'node:selected', style: { 'overlay-color': accent, 'overlay-opacity': 0.15 } },
  ];
  return styles;
}

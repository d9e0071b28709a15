import { defineConfig } from 'vite';

// base './': every asset URL in index.html and in the chunks is relative, so the same build works
// at `/` and behind an Ingress sub-path such as `/control/`.
// `npm run build -- --outDir <dir> --emptyOutDir` writes elsewhere (CMake uses a build-tree dir).
export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    target: 'es2020',
    sourcemap: false,
    assetsInlineLimit: 0, // no data: URLs (strict CSP)
    chunkSizeWarningLimit: 600,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npm run dev` proxies the admin API to a running engram-control.
    proxy: {
      '/api': { target: process.env.CONTROL_URL || 'http://127.0.0.1:8090', ws: true, changeOrigin: false },
    },
  },
});

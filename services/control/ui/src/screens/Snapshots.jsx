import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post, del, request, apiUrl, enc, ApiError } from '../api.js';
import { ErrorBox, Confirm, toast } from '../components/common.jsx';
import { formatBytes, formatTime, formatNumber } from '../lib/format.js';

async function sha256Hex(buf) {
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function Snapshots() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(null);
  const [restoreFile, setRestoreFile] = useState(null);
  const [restoreResult, setRestoreResult] = useState(null);
  const [verify, setVerify] = useState({});
  const fileInput = useRef();

  const load = async () => {
    try {
      const r = await get('api/snapshots');
      setList((r.snapshots || []).slice().sort((a, b) => String(b.createTime).localeCompare(String(a.createTime))));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load();
  }, []);

  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      const s = await post('api/snapshots');
      toast('ok', `Snapshot ${s.name} created.`);
      await load();
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  };

  const verifyOne = async (s) => {
    setVerify({ ...verify, [s.name]: { state: 'checking' } });
    try {
      if (!(globalThis.crypto && crypto.subtle)) throw new Error('this page is not a secure context (https or localhost): the browser has no SHA-256 here');
      const res = await fetch(apiUrl(`api/snapshots/${enc(s.name)}/download`), { credentials: 'same-origin' });
      if (!res.ok) throw new ApiError({ status: res.status, message: (await res.text()).slice(0, 300) });
      const buf = await res.arrayBuffer();
      const got = await sha256Hex(buf);
      const header = res.headers.get('X-Checksum-SHA256') || '';
      const ok = got === String(s.sha256).toLowerCase() && (!header || header.toLowerCase() === got);
      setVerify((v) => ({ ...v, [s.name]: { state: ok ? 'ok' : 'bad', got, bytes: buf.byteLength } }));
    } catch (e) {
      setVerify((v) => ({ ...v, [s.name]: { state: 'error', message: e.message } }));
    }
  };

  return (
    <section>
      <div class="toolbar">
        <h2>Snapshots</h2>
        <button class="primary" onClick={create} disabled={busy} data-testid="snapshot-create">
          {busy ? 'Creating…' : 'Create snapshot'}
        </button>
        <button onClick={load}>Refresh</button>
      </div>
      <p class="muted small">
        A snapshot is a consistent point-in-time archive of every namespace (and the audit log), with a manifest and checksums. Downloads are verified against the
        SHA-256 while they stream: a corrupt archive is cut off, never delivered whole.
      </p>
      <ErrorBox error={error} />
      {list ? (
        <table class="table" data-testid="snapshot-table">
          <thead>
            <tr>
              <th>name</th>
              <th>created</th>
              <th class="num">log position</th>
              <th class="num">size</th>
              <th class="num">namespaces</th>
              <th>SHA-256</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((s) => {
              const v = verify[s.name];
              return (
                <tr key={s.name} data-snapshot={s.name}>
                  <td>
                    <code>{s.name}</code>
                  </td>
                  <td class="small">{formatTime(s.createTime)}</td>
                  <td class="num">{formatNumber(Number(s.sequence))}</td>
                  <td class="num">{formatBytes(Number(s.sizeBytes))}</td>
                  <td class="num">{Array.isArray(s.namespaces) ? s.namespaces.length : s.namespaces}</td>
                  <td>
                    <code class="sha selectable" data-testid="sha256" title={s.sha256}>
                      {s.sha256}
                    </code>
                    {v ? (
                      <div class={'small ' + (v.state === 'ok' ? 'good' : v.state === 'checking' ? 'muted' : 'bad')} data-testid="verify-state">
                        {v.state === 'ok' ? `✓ verified (${formatBytes(v.bytes)})` : v.state === 'bad' ? `✗ mismatch: got ${v.got}` : v.state === 'checking' ? 'checking…' : `✗ ${v.message}`}
                      </div>
                    ) : null}
                  </td>
                  <td class="actions">
                    <a class="button" href={apiUrl(`api/snapshots/${enc(s.name)}/download`)} download={s.name} data-testid="snapshot-download">
                      Download
                    </a>
                    <button onClick={() => verifyOne(s)} title="download in the browser and check the SHA-256">
                      Verify
                    </button>
                    <button class="danger" onClick={() => setConfirm(s.name)} data-testid="snapshot-delete">
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
            {list.length === 0 ? (
              <tr>
                <td colspan="7" class="muted">
                  No snapshots yet.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      ) : null}

      <div class="card" data-testid="restore">
        <h3>Restore</h3>
        <p class="small">
          Upload an archive to restore it into an <strong>empty</strong> server (refused while any namespace holds data: delete them first). The archive's checksums are verified before anything is written.
        </p>
        <div class="row">
          <input ref={fileInput} type="file" accept=".tar,.snapshot,.tgz,application/octet-stream,*/*" onChange={(e) => setRestoreFile(e.currentTarget.files[0] || null)} data-testid="restore-file" />
          <button class="danger" disabled={!restoreFile} onClick={() => setConfirm({ restore: restoreFile })} data-testid="restore-submit">
            Restore…
          </button>
        </div>
        {restoreResult ? (
          <pre class="small result" data-testid="restore-result">
            {JSON.stringify(restoreResult, null, 2)}
          </pre>
        ) : null}
      </div>

      {confirm && typeof confirm === 'string' ? (
        <Confirm
          title="Delete snapshot"
          target={confirm}
          action="Delete snapshot"
          onCancel={() => setConfirm(null)}
          onConfirm={async () => {
            await del(`api/snapshots/${enc(confirm)}`, undefined, { expect: 'none' });
            toast('ok', `Snapshot ${confirm} deleted.`);
            setConfirm(null);
            load();
          }}
        />
      ) : null}
      {confirm && confirm.restore ? (
        <Confirm
          title="Restore snapshot"
          target={`${confirm.restore.name} (${formatBytes(confirm.restore.size)})`}
          action="Restore"
          onCancel={() => setConfirm(null)}
          onConfirm={async () => {
            const r = await request('POST', 'api/snapshots:restore', { body: confirm.restore, contentType: 'application/octet-stream' });
            setRestoreResult(r);
            toast('ok', 'Snapshot restored.');
            setConfirm(null);
            setRestoreFile(null);
            if (fileInput.current) fileInput.current.value = '';
            load();
          }}
        >
          <p>Every namespace in the archive is restored into this server.</p>
        </Confirm>
      ) : null}
    </section>
  );
}

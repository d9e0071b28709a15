import { useEffect, useState } from 'preact/hooks';
import { ErrorBox } from './common.jsx';

/** A component loaded on first use (dynamic import), so its libraries stay out of the main bundle. */
export function lazy(load) {
  let Comp = null;
  let promise = null;
  return function Lazy(props) {
    const [, force] = useState(0);
    const [error, setError] = useState(null);
    useEffect(() => {
      if (Comp) return;
      promise = promise || load();
      promise.then((c) => {
        Comp = c;
        force((x) => x + 1);
      }, (e) => setError({ code: 'LOAD', message: `could not load this screen: ${e.message}` }));
    }, []);
    if (error) return <ErrorBox error={error} />;
    return Comp ? <Comp {...props} /> : <div class="muted loading">Loading…</div>;
  };
}

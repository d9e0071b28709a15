// Light / dark theme: follows prefers-color-scheme unless the operator chose one (kept in
// localStorage: a display preference, never a key).
const KEY = 'engram-control-theme';

export function storedTheme() {
  try {
    const t = localStorage.getItem(KEY);
    return t === 'light' || t === 'dark' ? t : 'system';
  } catch {
    return 'system';
  }
}

export function effectiveTheme(choice = storedTheme()) {
  if (choice === 'light' || choice === 'dark') return choice;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(choice = storedTheme()) {
  const root = document.documentElement;
  root.dataset.theme = effectiveTheme(choice);
  root.dataset.themeChoice = choice;
}

export function setTheme(choice) {
  try {
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    /* storage disabled: the choice lasts for this page only */
  }
  applyTheme(choice);
  window.dispatchEvent(new Event('engram-theme'));
}

export function watchSystemTheme() {
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (storedTheme() === 'system') {
      applyTheme('system');
      window.dispatchEvent(new Event('engram-theme'));
    }
  });
}

// Live progress on the admin console's edition page (templates/pages/admin-edition.hbs): polls the
// progress JSON and fills the elements marked data-field. The page works without it (reload).
(() => {
  const section = document.getElementById('progress');
  if (!section) return;
  const url = section.dataset.progressUrl;
  const read = (data, path) => path.split('.').reduce((v, k) => (v == null ? v : v[k]), data);
  // Which buttons the page shows depends on this; when it changes the page reloads once.
  const phase = (status) => (status === 'planning' || status === 'sending' ? 'in-flight' : status === 'paused' ? 'paused' : 'other');
  const shownPhase = phase(section.dataset.status);
  async function tick() {
    let data;
    try {
      const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      if (!res.ok) return;
      data = await res.json();
    } catch {
      return; // a missed poll is retried at the next tick
    }
    for (const el of section.querySelectorAll('[data-field]')) {
      const field = el.dataset.field;
      if (field === 'percentBar') {
        el.value = data.percentDone;
        continue;
      }
      const value = read(data, field);
      el.textContent = value === null || value === undefined || value === '' ? '–' : String(value);
    }
    section.dataset.status = data.status;
    if (phase(data.status) !== shownPhase) window.location.reload();
  }
  setInterval(tick, 1500);
})();

// Progressive enhancement only: the form works without it; this adds the browser's time zone.
(function () {
  var field = document.querySelector('input[name="timeZone"]');
  if (!field) return;
  try { field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* keep the server default */ }
})();

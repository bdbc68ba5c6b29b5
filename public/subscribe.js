// Progressive enhancement only: the forms work without it (the Preview button then posts the form
// and the page comes back with the preview). This fills in the browser's time zone on the sign-up
// form, and shows the preview in place.
(function () {
  var zone = document.querySelector('input[name="timeZone"]');
  if (zone && !zone.value) {
    try { zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* keep the server default */ }
  }

  var button = document.querySelector('button[data-preview]');
  var target = document.getElementById('topic-preview');
  var topics = document.querySelector('input[name="topics"]');
  if (!button || !target || !topics || !window.fetch) return;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(answer) {
    target.replaceChildren();
    var box = element('div', 'preview');
    if (answer.message) {
      var error = element('p', 'error', answer.message);
      error.setAttribute('role', 'alert');
      box.appendChild(error);
    }
    (answer.preview || []).forEach(function (item) {
      box.appendChild(element('h3', 'preview-topic', item.topic));
      if (item.papers.length === 0) {
        box.appendChild(element('p', 'meta', 'No paper of the last 7 days matched this topic.'));
        return;
      }
      var list = element('ul', 'preview-papers');
      item.papers.forEach(function (paper) {
        var li = element('li');
        var link = element('a', '', paper.title);
        link.href = paper.url;
        li.appendChild(link);
        li.appendChild(document.createTextNode(' '));
        li.appendChild(element('span', 'meta', paper.featuredOn || ''));
        list.appendChild(li);
      });
      box.appendChild(list);
    });
    if (!answer.message && (answer.preview || []).length === 0) box.appendChild(element('p', 'meta', 'Give a topic to see what it matches.'));
    target.appendChild(box);
  }

  button.addEventListener('click', function (event) {
    event.preventDefault();
    button.disabled = true;
    fetch('/preview', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ topics: topics.value }),
      credentials: 'same-origin',
    })
      .then(function (res) {
        return res.json().catch(function () { return { message: 'The preview is not available right now.' }; });
      })
      .then(show, function () { show({ message: 'The preview is not available right now.' }); })
      .then(function () { button.disabled = false; });
  });
})();

// app.js: the uploader page. It wires the drop zone and the file picker to
// a queue of Uploads (uploader.js), draws their progress, and lists the
// completed files from /api/files.
//
// Choices this page makes where the wire contract leaves them open:
// - 3 uploads run at once by default; Settings (kept in localStorage) or
//   ?parallel=N in the page URL change it.
// - Files up to 64 MiB are hashed in the browser and sent with `start`, so the
//   server can refuse damaged bytes (checksum_mismatch). Bigger files are
//   hashed in a Worker once uploaded (verify.js), and the digest is compared
//   with the server's `complete.sha256`: every file is checked end to end,
//   and none waits to be hashed before it starts.
// - "Copy link" copies a link that opens the file without the access token:
//   when a token is set, a signed, read-only link to that one file that
//   expires (the server's default, 7 days); without one, the plain link.
// - Where the browser gives file handles (Chromium: a drop, or "Choose
//   files" through showOpenFilePicker), they are kept in IndexedDB, and
//   after a reload the Unfinished panel's Resume reopens the file
//   (handles.js); elsewhere the file is chosen again.

import { $, api, store, handles, queue, setLimits } from './page.js';
import { describeLimits } from './uploader.js';
import { setupDrop } from './adding.js';
import { views, render, renderTotals, removeView, pauseAll, resumeAll, cancelAll } from './uploads-view.js';
import { loadFiles } from './files-view.js';
import { renderUnfinished } from './unfinished.js';
import { setupSettings } from './settings.js';

function main() {
  setupDrop();
  setupSettings();
  $('clear-finished').addEventListener('click', () => {
    for (const u of [...queue.uploads]) if (u.state === 'done') removeView(u, false);
    $('choose').focus();
  });
  $('pause-all').addEventListener('click', () => {
    pauseAll();
    renderTotals();
  });
  $('resume-all').addEventListener('click', () => {
    resumeAll();
    renderTotals();
  });
  $('cancel-all').addEventListener('click', () => {
    cancelAll();
    renderTotals();
  });
  $('refresh').addEventListener('click', () => loadFiles(false));
  $('more').addEventListener('click', () => loadFiles(true));
  $('files-title').tabIndex = -1;
  window.addEventListener('online', () => {
    for (const u of queue.uploads) u.wake();
  });
  // Speeds, times left and retry countdowns change without any event.
  setInterval(() => {
    for (const u of queue.uploads) {
      const v = views.get(u);
      if (['uploading', 'finishing', 'waiting'].includes(u.state) || (v && v.undo)) render(u);
    }
    if (queue.uploads.length) renderTotals();
  }, 1000);
  // Leaving mid-upload asks first: the uploads would stop (an unfinished one
  // can be continued later, by choosing its file again or, where the browser
  // kept its handle, with Resume).
  window.addEventListener('beforeunload', (ev) => {
    if (!queue.uploads.some((u) => u.active || u.state === 'queued')) return;
    ev.preventDefault();
    ev.returnValue = '';
  });
  document.documentElement.dataset.ready = 'true';
  renderUnfinished();
  // The handles kept on earlier visits add Resume buttons to the panel;
  // those of uploads that never got an id are dropped.
  handles.load((key) => !!store.get(key) || queue.uploads.some((u) => u.storeKey === key)).then(renderUnfinished);
  loadFiles(false);
  api.limits().then(showLimits);
}

// showLimits states the server's limits under the drop zone and narrows the
// picker to the allowed types.
function showLimits(l) {
  setLimits(l);
  const text = describeLimits(l);
  $('limits').textContent = text;
  $('limits').hidden = !text;
  const input = $('file-input');
  if (l && l.allowedTypes.length) input.accept = l.allowedTypes.join(',');
  else input.removeAttribute('accept');
  for (const u of queue.uploads) render(u); // errors name the limit now
}

main();

// app.js: the uploader page. It wires the drop zone and the file picker to
// a queue of Uploads (uploader.js), draws their progress, and lists the
// completed files from /api/files.
//
// Choices this page makes where the wire contract leaves them open:
// - 3 uploads run at once by default; Settings (kept in localStorage) or
//   ?parallel=N in the page URL change it.
// - Files up to 64 MiB are hashed in the browser and sent with `start`, so the
//   server can refuse damaged bytes (checksum_mismatch). Bigger files are
//   hashed in a Worker while they upload (verify.js), and the digest is
//   compared with the server's `complete.sha256`: every file is checked end
//   to end, none waits to be hashed before it starts.
// - "Copy link" copies a link that opens the file without the access token:
//   when a token is set, a signed, read-only link to that one file that
//   expires (the server's default, 7 days); without one, the plain link.

import { API, HTTPError } from './api.js';
import { Queue } from './queue.js';
import { Upload, message as uploadMessage, precheck, describeLimits } from './uploader.js';
import { hashInWorker } from './verify.js';
import { UploadStore, fingerprint, loadParallel, saveParallel, saveToken } from './store.js';
import { formatBytes, formatDuration, formatSpeed, formatTime, percent } from './format.js';

const DEFAULT_PARALLEL = 3;

const $ = (id) => document.getElementById(id);

const api = new API();
const store = new UploadStore();
const queue = new Queue(initialParallel());
const views = new Map(); // Upload -> its list item and parts
let limits = null; // what the server accepts (GET /api/limits), once known

const message = (u) => uploadMessage(u, limits);

function initialParallel() {
  const n = Number.parseInt(new URLSearchParams(location.search).get('parallel') || '', 10);
  return n >= 1 && n <= 16 ? n : loadParallel(DEFAULT_PARALLEL);
}

// ---- announcements for screen readers -------------------------------------

const pending = { polite: [], urgent: [] };
let announceTimer = 0;

// announce queues a sentence for the polite live region (or the alert one).
// Sentences that come together are read together.
function announce(text, urgent = false) {
  pending[urgent ? 'urgent' : 'polite'].push(text);
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    for (const [kind, id] of [
      ['polite', 'live'],
      ['urgent', 'live-alert'],
    ]) {
      if (!pending[kind].length) continue;
      $(id).textContent = pending[kind].join(' ');
      pending[kind] = [];
    }
  }, 100);
}

// ---- adding files ---------------------------------------------------------

function addFiles(files) {
  let added = 0;
  let resumed = 0;
  for (const file of files) {
    const fp = fingerprint(file);
    const existing = queue.uploads.find((u) => u.fingerprint === fp && !u.finished);
    if (existing) {
      // The same file again: carry on with the upload already listed.
      if (!existing.active) existing.replaceFile(file);
      if (existing.state === 'paused') existing.resume();
      else if (existing.state === 'error') existing.retry();
      else announce(`${file.name} is already in the uploads.`);
      continue;
    }
    const refusal = precheck(file, limits);
    const u = new Upload(file, {
      url: () => api.uploadSocketURL(),
      store,
      probe: () => api.probe(),
      remove: (id) => api.remove(id),
      hashFile: hashInWorker,
    });
    if (u.resumedFromEarlierVisit) resumed++;
    added++;
    if (refusal) u.fail(refusal, ''); // never sent: the server would refuse it
    createView(u);
    queue.add(u);
  }
  if (added) {
    $('queue').hidden = false;
    const s = added === 1 ? 'file' : 'files';
    announce(`Added ${added} ${s} to the uploads.${resumed ? ` ${resumed} continue${resumed === 1 ? 's' : ''} where it stopped.` : ''}`);
    renderUnfinished();
    renderTotals();
  }
}

function filesFromDataTransfer(dt) {
  const files = [];
  let folders = 0;
  const items = dt.items ? Array.from(dt.items) : [];
  if (items.length) {
    for (const item of items) {
      if (item.kind !== 'file') continue;
      const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
      if (entry && entry.isDirectory) {
        folders++;
        continue;
      }
      const f = item.getAsFile();
      if (f) files.push(f);
    }
  } else {
    files.push(...Array.from(dt.files || []));
  }
  if (folders) announce('Folders cannot be uploaded: drop the files inside them instead.', true);
  return files;
}

function hasFiles(ev) {
  return ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files');
}

function setupDrop() {
  const zone = $('dropzone');
  let depth = 0;
  // Files are accepted anywhere on the page, so a near miss does not make the
  // browser navigate away to the dropped file.
  document.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    depth++;
    zone.classList.add('dragging');
  });
  document.addEventListener('dragleave', (ev) => {
    if (!hasFiles(ev)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dragging');
  });
  document.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('drop', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    addFiles(filesFromDataTransfer(ev.dataTransfer));
  });
  document.addEventListener('paste', (ev) => {
    const files = ev.clipboardData ? Array.from(ev.clipboardData.files || []) : [];
    if (files.length) addFiles(files);
  });
  const input = $('file-input');
  $('choose').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    addFiles(Array.from(input.files || []));
    input.value = ''; // choosing the same file again fires change again
  });
}

// ---- the upload list ------------------------------------------------------

const STATUS = {
  queued: 'Queued',
  hashing: 'Preparing…',
  connecting: 'Connecting…',
  uploading: 'Uploading',
  finishing: 'Verifying…',
  waiting: 'Waiting',
  paused: 'Paused',
  cancelling: 'Cancelling…',
  done: 'Done',
  cancelled: 'Cancelled',
  error: 'Stopped',
};

function createView(u) {
  const el = $('upload-template').content.firstElementChild.cloneNode(true);
  const part = (sel) => el.querySelector(sel);
  const v = {
    el,
    name: part('.upload-name'),
    pct: part('.upload-pct'),
    bar: part('.upload-bar'),
    received: part('.bar-received'),
    status: part('.upload-status'),
    detail: part('.upload-detail'),
    error: part('.upload-error'),
    toggle: part('[data-action="toggle"]'),
    retryNow: part('[data-action="retry-now"]'),
    open: part('[data-action="open"]'),
    cancel: part('[data-action="cancel"]'),
    lastState: null,
    milestone: 0,
    undo: null, // {timer, until, resume} while a Cancel can still be undone
  };
  el.dataset.name = u.name;
  v.name.textContent = u.name;
  v.name.title = u.name;
  v.bar.setAttribute('aria-label', `Upload of ${u.name}`);
  v.retryNow.setAttribute('aria-label', `Retry ${u.name} now`);
  v.toggle.addEventListener('click', () => {
    if (v.undo) undoCancel(u, v);
    else if (u.state === 'paused') u.resume();
    else if (u.state === 'error') u.retry();
    else u.pause();
  });
  v.retryNow.addEventListener('click', () => u.retry());
  v.cancel.addEventListener('click', () => {
    if (removable(u)) removeView(u, true);
    else if (v.undo) return;
    else if (!u.holds) u.cancel(); // never deletes what another tab or device sends: stops with "in_use"
    else startCancel(u, v); // a cancelled upload leaves the list (render)
  });
  u.addEventListener('change', () => {
    render(u);
    renderTotals();
  });
  views.set(u, v);
  $('uploads').append(el);
  render(u);
}

// removable is true when the upload's Cancel button only tidies the list.
function removable(u) {
  return u.state === 'done' || (u.state === 'error' && (!u.id || (u.error && u.error.code === 'in_use')));
}

// CANCEL_UNDO_MS is how long a Cancel can be undone: the upload is paused
// at once, and its bytes deleted on the server only then.
const CANCEL_UNDO_MS = 5000;

function startCancel(u, v) {
  const resume = u.active || u.state === 'queued';
  u.pause();
  v.undo = {
    resume,
    until: Date.now() + CANCEL_UNDO_MS,
    timer: setTimeout(() => {
      v.undo = null;
      u.cancel();
      render(u);
    }, CANCEL_UNDO_MS),
  };
  announce(`${u.name} will be cancelled in ${CANCEL_UNDO_MS / 1000} seconds. Press Undo to keep it.`);
  render(u);
  v.toggle.focus();
}

function undoCancel(u, v) {
  clearTimeout(v.undo.timer);
  const { resume } = v.undo;
  v.undo = null;
  if (resume) u.resume();
  announce(`${u.name} kept.`);
  render(u);
}

function removeView(u, moveFocus) {
  const v = views.get(u);
  if (!v) return;
  if (moveFocus && v.el.contains(document.activeElement)) {
    const next = v.el.nextElementSibling || v.el.previousElementSibling;
    const target = next ? next.querySelector('button:not([hidden])') : $('choose');
    if (target) target.focus();
  }
  v.el.remove();
  views.delete(u);
  queue.remove(u);
  if (!queue.uploads.length) $('queue').hidden = true;
  renderTotals();
}

function render(u) {
  const v = views.get(u);
  if (!v) return;
  const { state } = u;
  const done = state === 'done';
  v.el.dataset.state = state;
  if (u.id) v.el.dataset.id = u.id;
  else delete v.el.dataset.id;

  const p = done ? 100 : percent(u.offset, u.size);
  v.pct.textContent = `${p}%`;
  v.bar.max = Math.max(u.size, 1);
  v.bar.value = done ? v.bar.max : u.offset;
  v.received.style.width = `${u.size ? (100 * u.received) / u.size : 0}%`;
  // After `end` the server may still be saving bytes sent earlier: that is
  // still uploading to the person watching.
  v.status.textContent = state === 'finishing' && u.offset < u.size ? STATUS.uploading : STATUS[state] || state;
  v.detail.textContent = detailText(u);

  const why = state === 'error' || state === 'waiting' ? message(u) : '';
  v.error.hidden = !why;
  v.error.textContent = why;
  v.el.classList.toggle('has-error', state === 'error');

  const toggleLabel = v.undo ? 'Undo' : state === 'paused' ? 'Resume' : state === 'error' ? 'Retry' : 'Pause';
  const focused = document.activeElement;
  // Retrying cannot help a file the server refuses for its size or type.
  const hopeless = state === 'error' && ['too_large', 'forbidden_type'].includes(u.error && u.error.code);
  v.toggle.hidden = done || hopeless || state === 'cancelled' || state === 'cancelling';
  v.toggle.textContent = toggleLabel;
  v.toggle.setAttribute('aria-label', v.undo ? `Undo the cancel of ${u.name}` : `${toggleLabel} ${u.name}`);
  v.toggle.classList.toggle('btn-primary', !!v.undo);
  if (v.undo) {
    v.toggle.hidden = false;
    v.status.textContent = `Cancelling in ${formatDuration(Math.max(0, (v.undo.until - Date.now()) / 1000))}`;
  }
  v.retryNow.hidden = state !== 'waiting';
  v.open.hidden = !done || !u.id;
  if (done && u.id) {
    v.open.href = api.fileURL(u.id);
    v.open.setAttribute('aria-label', `Open ${u.name}`);
  }
  const inUse = state === 'error' && u.error && u.error.code === 'in_use';
  const cancelLabel = inUse ? 'Forget here' : removable(u) ? 'Remove' : 'Cancel';
  v.cancel.hidden = state === 'cancelling' || state === 'cancelled' || !!v.undo;
  v.cancel.textContent = cancelLabel;
  v.cancel.classList.toggle('btn-danger', cancelLabel === 'Cancel'); // Remove only tidies the list
  v.cancel.setAttribute('aria-label', `${cancelLabel} ${u.name}`);
  if (focused && v.el.contains(focused) && focused.hidden) {
    const next = [v.toggle, v.open, v.cancel].find((b) => !b.hidden);
    (next || $('choose')).focus();
  }

  if (v.lastState !== state) {
    announceState(u, v.lastState);
    v.lastState = state;
  }
  if (state === 'uploading' || state === 'finishing') {
    const m = Math.floor(p / 25) * 25;
    if (m > v.milestone && m < 100) {
      v.milestone = m;
      announce(`${u.name}: ${m}% uploaded.`);
    }
  }
  if (state === 'cancelled') setTimeout(() => removeView(u, true), 0);
}

function detailText(u) {
  const size = formatBytes(u.size);
  switch (u.state) {
    case 'done':
      return `${size}${verifyText(u)}`;
    case 'uploading':
    case 'finishing': {
      const parts = [`${formatBytes(u.offset)} of ${size}`];
      if (u.speed > 0) parts.push(formatSpeed(u.speed), `${formatDuration(u.eta)} left`);
      return parts.join(' · ');
    }
    case 'waiting': {
      const left = Math.max(0, (u.retryAt - Date.now()) / 1000);
      return `${formatBytes(u.offset)} of ${size} saved · next try in ${formatDuration(left)}`;
    }
    default:
      return u.offset > 0 ? `${formatBytes(u.offset)} of ${size} saved` : size;
  }
}

// verifyText says how far the end-to-end SHA-256 check of a finished upload is.
function verifyText(u) {
  switch (u.verify) {
    case 'ok':
      return ' · SHA-256 verified';
    case 'pending':
      return u.localSha || !u.size ? ' · checking SHA-256…' : ` · checking SHA-256… ${percent(u.hashed, u.size)}%`;
    case 'unavailable':
      return ' · not verified (this browser could not hash the file)';
    default:
      return '';
  }
}

function announceState(u, before) {
  switch (u.state) {
    case 'uploading':
      if (before === 'queued' || before === 'connecting' || before === 'hashing') {
        announce(u.offset > 0 ? `${u.name}: continuing from ${percent(u.offset, u.size)}%.` : `${u.name}: uploading.`);
      }
      break;
    case 'paused':
      announce(`${u.name} paused.`);
      break;
    case 'done':
      announce(`${u.name} uploaded.`);
      refreshFilesSoon();
      break;
    case 'cancelled':
      announce(`${u.name} cancelled.`);
      break;
    case 'error':
      announce(`${u.name}: ${message(u)}`, true);
      if (u.error && u.error.code === 'unauthorized') showTokenNeeded();
      break;
    case 'waiting':
      if (before !== 'waiting' && u.waitReason === 'unreachable') announce(`${u.name}: ${message(u)}`, true);
      break;
  }
}

function renderTotals() {
  const t = queue.totals();
  const bar = $('total-progress');
  bar.max = Math.max(t.size, 1);
  bar.value = t.count && t.done === t.count ? bar.max : t.offset;
  const p = t.count && t.done === t.count ? 100 : percent(t.offset, t.size);
  const parts = t.count
    ? [`${t.done} of ${t.count} ${t.count === 1 ? 'file' : 'files'} done`, `${formatBytes(t.offset)} of ${formatBytes(t.size)} (${p}%)`]
    : [];
  if (t.speed > 0) parts.push(formatSpeed(t.speed), `${formatDuration((t.size - t.offset) / t.speed)} left`);
  if (t.stopped) parts.push(`${t.stopped} stopped`);
  // Each figure stays on one line on a narrow screen ("33.8 MiB/s", not
  // "33.8 / MiB/s"); the line breaks only between them.
  const label = $('total-label');
  label.replaceChildren();
  parts.forEach((text, i) => {
    if (i) label.append(' · ');
    const span = document.createElement('span');
    span.className = 'nowrap';
    span.textContent = text;
    label.append(span);
  });
  $('clear-finished').hidden = !queue.uploads.some((u) => u.state === 'done');
}

// ---- files from earlier visits ---------------------------------------------

const unfinishedInfo = new Map(); // id -> metadata from GET /api/files/<id>, or null while unknown

function renderUnfinished() {
  const inQueue = new Set(queue.uploads.map((u) => u.fingerprint));
  const entries = Object.entries(store.all()).filter(([fp, r]) => !inQueue.has(fp) && r && r.id);
  const list = $('unfinished-list');
  list.replaceChildren();
  $('unfinished').hidden = entries.length === 0;
  for (const [fp, rec] of entries) {
    const li = document.createElement('li');
    li.className = 'unfinished-item';
    const name = document.createElement('span');
    name.className = 'unfinished-name';
    name.textContent = rec.name;
    const meta = document.createElement('span');
    meta.className = 'muted';
    const info = unfinishedInfo.get(rec.id);
    meta.textContent = info
      ? `${formatBytes(info.offset || 0)} of ${formatBytes(rec.size)} saved${info.expires_at ? ` · kept until ${formatTime(info.expires_at)}` : ''}`
      : formatBytes(rec.size);
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'btn btn-quiet';
    discard.textContent = 'Discard';
    discard.setAttribute('aria-label', `Discard the unfinished upload of ${rec.name}`);
    discard.addEventListener('click', async () => {
      store.delete(fp);
      try {
        await api.remove(rec.id);
      } catch {
        // the server forgets it when it expires
      }
      announce(`Discarded ${rec.name}.`);
      renderUnfinished();
      $('choose').focus();
    });
    li.append(name, meta, discard);
    list.append(li);
    if (!unfinishedInfo.has(rec.id)) {
      unfinishedInfo.set(rec.id, null);
      api
        .stat(rec.id)
        .then((m) => {
          if (m.complete) store.delete(fp);
          else unfinishedInfo.set(rec.id, m);
          renderUnfinished();
        })
        .catch((e) => {
          if (e instanceof HTTPError && e.status === 404) {
            store.delete(fp);
            renderUnfinished();
          } else {
            unfinishedInfo.delete(rec.id); // ask again later (token, network)
          }
        });
    }
  }
}

// ---- completed files ------------------------------------------------------

const fileViews = new Map(); // id -> list item
let filesNext = '';
let refreshTimer = 0;
const PAGE = 20; // files asked for at a time

function refreshFilesSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => loadFiles(false), 250);
}

// loadFiles shows the completed files, newest first. A refresh (more =
// false) asks again for as many files as are shown (at least one page), so
// that the list stays in the server's order with no gaps: files that
// finished meanwhile come first, and those pushed past the end come back
// with "Show more", after the ones before them.
async function loadFiles(more) {
  const status = $('files-status');
  const list = $('files');
  let page;
  try {
    const limit = more ? PAGE : Math.min(1000, Math.max(PAGE, list.children.length));
    page = await api.listFiles(more ? filesNext : '', limit);
  } catch (e) {
    status.hidden = false;
    if (e instanceof HTTPError && e.status === 401) {
      status.textContent = e.code === 'unauthorized' && api.token ? 'The access token was rejected. Enter a valid one under Settings to see the files.' : 'Enter the access token under Settings to see the files.';
      showTokenNeeded();
    } else if (e instanceof HTTPError && e.status === 403) {
      status.textContent = 'This access token may upload but not list the files.';
    } else {
      status.textContent = 'Cannot reach the server to list the files.';
    }
    return;
  }
  if (more) {
    for (const f of page.files) if (!fileViews.has(f.id)) list.append(fileView(f));
    filesNext = page.next;
  } else {
    // Reuse the items already shown, so that focus and a playing video survive.
    let cursor = list.firstElementChild;
    for (const f of page.files) {
      const li = fileViews.get(f.id) || fileView(f);
      if (li === cursor) cursor = cursor.nextElementSibling;
      else list.insertBefore(li, cursor);
    }
    // Whatever follows is either gone or now beyond this page: "Show more"
    // brings the latter back in order.
    const keep = new Set(page.files.map((f) => f.id));
    for (const li of Array.from(list.children)) {
      if (!keep.has(li.dataset.id)) {
        li.remove();
        fileViews.delete(li.dataset.id);
      }
    }
    filesNext = page.next;
  }
  $('more').hidden = !filesNext;
  status.hidden = list.children.length > 0;
  status.textContent = 'No files yet.';
  if (!more) $('token-needed').hidden = true;
}

function fileView(f) {
  const li = $('file-template').content.firstElementChild.cloneNode(true);
  const part = (sel) => li.querySelector(sel);
  const mime = String(f.mime || '');
  li.dataset.id = f.id;
  li.dataset.name = f.name;
  const name = part('.file-name');
  name.textContent = f.name;
  name.title = f.name;
  name.href = api.fileURL(f.id);
  part('.file-size').textContent = formatBytes(f.size);
  const time = part('.file-time');
  time.dateTime = f.created || '';
  time.textContent = formatTime(f.created);

  const thumb = part('.file-thumb');
  if (mime.startsWith('image/')) {
    const img = document.createElement('img');
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    img.src = api.fileURL(f.id);
    img.addEventListener('error', () => {
      img.remove();
      thumb.textContent = label(f.name, mime);
    });
    thumb.append(img);
  } else {
    thumb.textContent = label(f.name, mime);
  }

  const play = part('[data-action="play"]');
  const media = mime.startsWith('video/') ? 'video' : mime.startsWith('audio/') ? 'audio' : '';
  if (media) {
    play.hidden = false;
    play.setAttribute('aria-label', `Play ${f.name}`);
    play.addEventListener('click', () => togglePlayer(li, f, media, play));
  }

  const download = part('[data-action="download"]');
  download.href = api.fileURL(f.id, true);
  download.setAttribute('download', f.name);
  download.setAttribute('aria-label', `Download ${f.name}`);

  const copy = part('[data-action="copy"]');
  copy.setAttribute('aria-label', `Copy the link to ${f.name}`);
  copy.addEventListener('click', async () => {
    let link;
    try {
      link = await api.shareURL(f.id);
    } catch (e) {
      copy.textContent = 'Copy failed';
      if (e instanceof HTTPError && e.status === 401) showTokenNeeded();
      announce(
        e instanceof HTTPError && e.status === 403
          ? 'This access token may not make links to files.'
          : `The server did not make a link to ${f.name}.`,
        true,
      );
      setTimeout(() => {
        copy.textContent = 'Copy link';
      }, 2000);
      return;
    }
    const ok = await copyText(link);
    copy.textContent = ok ? 'Copied' : 'Copy failed';
    announce(ok ? `Link to ${f.name} copied.` : 'The browser did not allow copying. Open the file and copy its address instead.', !ok);
    setTimeout(() => {
      copy.textContent = 'Copy link';
    }, 2000);
  });

  const del = part('[data-action="delete"]');
  del.setAttribute('aria-label', `Delete ${f.name}`);
  let confirmTimer = 0;
  const unconfirm = () => {
    del.dataset.confirm = '';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${f.name}`);
  };
  del.addEventListener('click', async () => {
    if (del.dataset.confirm !== '1') {
      // Deleting cannot be undone: ask for a second press.
      del.dataset.confirm = '1';
      del.textContent = 'Confirm delete';
      del.setAttribute('aria-label', `Confirm: delete ${f.name}`);
      announce(`Press again to delete ${f.name}.`);
      confirmTimer = setTimeout(unconfirm, 5000);
      return;
    }
    clearTimeout(confirmTimer);
    del.disabled = true;
    try {
      await api.remove(f.id);
    } catch (e) {
      del.disabled = false;
      unconfirm();
      if (e instanceof HTTPError && e.status === 401) showTokenNeeded();
      announce(`Could not delete ${f.name}.`, true);
      return;
    }
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    fileViews.delete(f.id);
    announce(`Deleted ${f.name}.`);
    (next ? next.querySelector('.file-name') : $('files-title')).focus();
    if (!$('files').children.length) {
      $('files-status').hidden = false;
      $('files-status').textContent = 'No files yet.';
    }
  });

  fileViews.set(f.id, li);
  return li;
}

// label is the short text shown in place of a thumbnail: the file's extension.
function label(name, mime) {
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1) : '';
  if (ext && ext.length <= 4) return ext.toUpperCase();
  return (mime.split('/')[0] || 'file').slice(0, 4).toUpperCase();
}

function togglePlayer(li, f, kind, button) {
  const box = li.querySelector('.file-player');
  if (!box.hidden) {
    const m = box.querySelector('video, audio');
    if (m) {
      m.pause();
      m.removeAttribute('src');
      m.load(); // stop fetching
    }
    box.replaceChildren();
    box.hidden = true;
    button.textContent = 'Play';
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-label', `Play ${f.name}`);
    return;
  }
  // The browser fetches the media with Range requests, so it can seek
  // anywhere without downloading the file first.
  const m = document.createElement(kind);
  m.controls = true;
  m.preload = 'metadata';
  m.src = api.fileURL(f.id);
  m.setAttribute('aria-label', `${kind === 'video' ? 'Video' : 'Audio'} player for ${f.name}`);
  m.addEventListener('error', () => {
    const note = document.createElement('p');
    note.className = 'muted';
    note.textContent = 'This browser cannot play this file. Download it instead.';
    box.append(note);
  });
  box.append(m);
  box.hidden = false;
  button.textContent = 'Close player';
  button.setAttribute('aria-expanded', 'true');
  button.setAttribute('aria-label', `Close the player for ${f.name}`);
  m.play().catch(() => {
    // autoplay refused or no audio device: the controls are there
  });
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // not a secure context, or no permission: fall back to a selection
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.readOnly = true;
  ta.className = 'visually-hidden';
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

// ---- settings -------------------------------------------------------------

function setSettingsOpen(open) {
  $('settings').hidden = !open;
  $('settings-toggle').setAttribute('aria-expanded', String(open));
}

let tokenAnnounced = false;

function showTokenNeeded() {
  setSettingsOpen(true);
  $('token-needed').hidden = false;
  if (!tokenAnnounced) {
    tokenAnnounced = true;
    announce('This server needs an access token. Enter it in Settings.', true);
  }
}

function setupSettings() {
  const form = $('settings-form');
  form.token.value = api.token;
  form.parallel.value = String(queue.parallel);
  $('settings-toggle').addEventListener('click', () => {
    const open = $('settings').hidden;
    setSettingsOpen(open);
    if (open) form.token.focus();
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = form.token.value.trim();
    saveToken(token);
    api.token = token;
    const n = Math.min(16, Math.max(1, Number.parseInt(form.parallel.value, 10) || DEFAULT_PARALLEL));
    form.parallel.value = String(n);
    saveParallel(n);
    queue.setParallel(n);
    tokenAnnounced = false;
    $('token-needed').hidden = true;
    setSettingsOpen(false);
    $('settings-toggle').focus();
    announce('Settings saved.');
    for (const u of queue.uploads) {
      if (u.state === 'error' && u.error && ['unauthorized', 'forbidden'].includes(u.error.code)) u.retry();
    }
    unfinishedInfo.clear();
    renderUnfinished();
    loadFiles(false);
  });
}

// ---- start ----------------------------------------------------------------

function main() {
  setupDrop();
  setupSettings();
  $('clear-finished').addEventListener('click', () => {
    for (const u of [...queue.uploads]) if (u.state === 'done') removeView(u, false);
    $('choose').focus();
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
  // can be continued later, but only by choosing its file again).
  window.addEventListener('beforeunload', (ev) => {
    if (!queue.uploads.some((u) => u.active || u.state === 'queued')) return;
    ev.preventDefault();
    ev.returnValue = '';
  });
  document.documentElement.dataset.ready = 'true';
  renderUnfinished();
  loadFiles(false);
  api.limits().then(showLimits);
}

// showLimits states the server's limits under the drop zone and narrows the
// picker to the allowed types.
function showLimits(l) {
  limits = l;
  const text = describeLimits(l);
  $('limits').textContent = text;
  $('limits').hidden = !text;
  const input = $('file-input');
  if (l && l.allowedTypes.length) input.accept = l.allowedTypes.join(',');
  else input.removeAttribute('accept');
  for (const u of queue.uploads) render(u); // errors name the limit now
}

main();

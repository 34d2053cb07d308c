// uploads-view.js: the list of uploads: one item per Upload with its
// progress, state and buttons (Pause/Resume/Retry, Cancel with undo), and
// the total line.

import { $, api, queue, message } from './page.js';
import { announce } from './announce.js';
import { refreshFilesSoon } from './files-view.js';
import { showTokenNeeded } from './settings.js';
import { formatBytes, formatDuration, formatSpeed, percent } from './format.js';

export const views = new Map(); // Upload -> its list item and parts

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

export function createView(u) {
  const el = $('upload-template').content.firstElementChild.cloneNode(true);
  const part = (sel) => el.querySelector(sel);
  const v = {
    el,
    name: part('.upload-name'),
    pct: part('.upload-pct'),
    bar: part('.upload-bar'),
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
    drawTimer: 0,
  };
  el.dataset.name = u.name;
  v.objectURL = thumbnail(part('.upload-thumb'), u.file);
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
  // A change of state is drawn at once; progress at most every 100 ms, so
  // that drawing never competes with sending on a busy machine.
  u.addEventListener('change', () => {
    if (u.state !== v.lastState) {
      clearTimeout(v.drawTimer);
      v.drawTimer = 0;
      render(u);
      renderTotals();
    } else if (!v.drawTimer) {
      v.drawTimer = setTimeout(() => {
        v.drawTimer = 0;
        render(u);
        renderTotals();
      }, 100);
    }
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

// thumbnail fills box with a small preview of an image or a video's first
// frame, read from the file itself (a blob: URL, returned to be revoked),
// or with the file's extension.
function thumbnail(box, file) {
  const type = String(file.type || '');
  const media = type.startsWith('image/') ? 'img' : type.startsWith('video/') ? 'video' : '';
  if (!media || file.size > 256 << 20) {
    box.textContent = extension(file.name);
    return '';
  }
  const url = URL.createObjectURL(file);
  const m = document.createElement(media);
  if (media === 'img') {
    m.alt = '';
    m.decoding = 'async';
  } else {
    m.muted = true;
    m.preload = 'metadata';
  }
  m.addEventListener('error', () => {
    m.remove();
    box.textContent = extension(file.name);
  });
  m.src = url;
  box.append(m);
  return url;
}

function extension(name) {
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1) : '';
  return ext && ext.length <= 4 ? ext.toUpperCase() : 'FILE';
}

// cancelAll cancels, with the same undo, every upload this page holds;
// those another tab or device holds stop with "in use elsewhere".
export function cancelAll() {
  for (const u of queue.uploads) {
    const v = views.get(u);
    if (!v || v.undo || removable(u) || u.finished || u.state === 'cancelling') continue;
    if (!u.holds) u.cancel();
    else startCancel(u, v, false);
  }
}

export function pauseAll() {
  for (const u of queue.uploads) if (u.active || u.state === 'queued') u.pause();
}

export function resumeAll() {
  for (const u of queue.uploads) if (u.state === 'paused' && !(views.get(u) || {}).undo) u.resume();
}

function startCancel(u, v, focus = true) {
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
  if (focus) v.toggle.focus();
}

function undoCancel(u, v) {
  clearTimeout(v.undo.timer);
  const { resume } = v.undo;
  v.undo = null;
  if (resume) u.resume();
  announce(`${u.name} kept.`);
  render(u);
}

export function removeView(u, moveFocus) {
  const v = views.get(u);
  if (!v) return;
  if (moveFocus && v.el.contains(document.activeElement)) {
    const next = v.el.nextElementSibling || v.el.previousElementSibling;
    const target = next ? next.querySelector('button:not([hidden])') : $('choose');
    if (target) target.focus();
  }
  v.el.remove();
  u.stopVerify(); // no hashing for an item no one sees
  clearTimeout(v.drawTimer);
  if (v.objectURL) URL.revokeObjectURL(v.objectURL);
  views.delete(u);
  queue.remove(u);
  if (!queue.uploads.length) $('queue').hidden = true;
  renderTotals();
}

export function render(u) {
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

export function renderTotals() {
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
  const undoing = (u) => !!(views.get(u) || {}).undo;
  $('pause-all').hidden = !queue.uploads.some((u) => u.active || u.state === 'queued');
  $('resume-all').hidden = !queue.uploads.some((u) => u.state === 'paused' && !undoing(u));
  $('cancel-all').hidden = !queue.uploads.some((u) => !u.finished && !removable(u) && !undoing(u) && u.state !== 'cancelling');
}

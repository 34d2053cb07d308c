// unfinished.js: uploads this browser started on an earlier visit and did
// not finish (the store), with what the server still holds of each, and a
// Resume button for those whose file the browser can open again
// (handles.js).

import { $, api, store, handles, queue } from './page.js';
import { reopen, reopenMessage, noteHandle } from './handles.js';
import { addFiles } from './adding.js';
import { HTTPError } from './api.js';
import { announce } from './announce.js';
import { formatBytes, formatTime } from './format.js';
import { SUBPROTOCOL } from './uploader.js';

// takeAndAbort deletes an unfinished upload only if no one else is sending
// it: it asks for the upload with `resume` and aborts it once `ready` makes
// it this page's; `locked` means another tab or device holds it. It
// resolves to 'deleted', 'gone' (it no longer exists), 'in_use' or
// 'failed' (no answer).
function takeAndAbort(id) {
  return new Promise((resolve) => {
    let ws;
    try {
      ws = new WebSocket(api.uploadSocketURL(), [SUBPROTOCOL]);
    } catch {
      resolve('failed');
      return;
    }
    let verdict = 'failed';
    const finish = (v) => {
      verdict = v;
      try {
        ws.close(1000);
      } catch {
        // closed already
      }
    };
    const timer = setTimeout(() => finish('failed'), 10000);
    ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'resume', id })));
    ws.addEventListener('message', (ev) => {
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (f.type === 'ready') ws.send(JSON.stringify({ type: 'abort' }));
      else if (f.type === 'aborted') finish('deleted');
      else if (f.type === 'complete') finish('gone'); // finished meanwhile: a file now, not ours to delete
      else if (f.type === 'error') finish(f.code === 'locked' ? 'in_use' : f.code === 'not_found' ? 'gone' : 'failed');
    });
    ws.addEventListener('close', () => {
      clearTimeout(timer);
      resolve(verdict);
    });
  });
}

// discardUpload is takeAndAbort, with `locked` asked again a few times
// (0.5 s, then 1, 1.5, 2 and 2.5 s apart) before it counts as in use: the
// holder may be this page's own connection of a moment ago, closed by a
// Pause or a reload while the server still saves its last bytes, which
// lets go within seconds; another tab or device sending it holds on.
const LOCKED_TRIES = 6;
async function discardUpload(id) {
  for (let i = 1; ; i++) {
    const verdict = await takeAndAbort(id);
    if (verdict !== 'in_use' || i === LOCKED_TRIES) return verdict;
    await new Promise((resolve) => setTimeout(resolve, 500 * i));
  }
}

export const unfinishedInfo = new Map();
const inUse = new Set(); // ids a Discard found held by another tab or device
const IN_USE = 'In use elsewhere (another tab or device): not discarded. Cancel it where it runs.'; // id -> metadata from GET /api/files/<id>, or null while unknown
const reopenFailed = new Map(); // store key -> why Resume could not open the file

// resumeFromHandle opens the file of an unfinished upload again through its
// kept handle (on the Resume click: the browser may ask for permission)
// and adds it: the upload then resumes from the server's offset. When the
// file cannot be opened, or is no longer the same, it says so and leaves
// choosing the file again.
async function resumeFromHandle(fp, rec, kept) {
  const r = await reopen(kept);
  if (r.file) {
    reopenFailed.delete(fp);
    noteHandle(r.file, kept.handle);
    addFiles([r.file]);
    return;
  }
  // A changed or missing file will not come back through this handle.
  if (r.error === 'changed' || r.error === 'missing') await handles.forget(fp);
  const text = reopenMessage(rec.name, r.error);
  reopenFailed.set(fp, text);
  announce(text, true);
  renderUnfinished();
  $('choose').focus();
}

export function renderUnfinished() {
  const inQueue = new Set(queue.uploads.map((u) => u.storeKey));
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
    meta.textContent = inUse.has(rec.id)
      ? IN_USE
      : reopenFailed.has(fp)
        ? reopenFailed.get(fp)
        : info
        ? `${formatBytes(info.offset || 0)} of ${formatBytes(rec.size)} saved${info.expires_at ? ` · kept until ${formatTime(info.expires_at)}` : ''}`
        : formatBytes(rec.size);
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'btn btn-quiet';
    discard.textContent = 'Discard';
    discard.setAttribute('aria-label', `Discard the unfinished upload of ${rec.name}`);
    discard.addEventListener('click', async () => {
      discard.disabled = true;
      const verdict = await discardUpload(rec.id);
      if (verdict === 'in_use') {
        discard.disabled = false;
        inUse.add(rec.id);
        meta.textContent = IN_USE;
        announce(`${rec.name} is in use elsewhere, so it was not discarded.`, true);
        return;
      }
      store.delete(fp);
      reopenFailed.delete(fp);
      announce(verdict === 'failed' ? `Forgot ${rec.name} here; the server deletes it when it expires.` : `Discarded ${rec.name}.`);
      renderUnfinished();
      $('choose').focus();
    });
    // The buttons go in one box so that a narrow line wraps them together
    // rather than leaving Discard alone on the next one.
    const actions = document.createElement('span');
    actions.className = 'unfinished-actions';
    li.append(name, meta, actions);
    const kept = handles.get(fp);
    if (kept) {
      const resume = document.createElement('button');
      resume.type = 'button';
      resume.className = 'btn btn-primary';
      resume.textContent = 'Resume';
      resume.dataset.action = 'resume';
      resume.setAttribute('aria-label', `Resume the upload of ${rec.name} without choosing the file again`);
      resume.addEventListener('click', () => {
        resume.disabled = true;
        resumeFromHandle(fp, rec, kept);
      });
      actions.append(resume);
    }
    actions.append(discard);
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

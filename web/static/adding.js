// adding.js: files into the queue: dropped (folders too), pasted or
// chosen, checked against the server's limits; duplicates are asked about.

import { $, api, store, handles, queue, limits } from './page.js';
import { Upload, precheck } from './uploader.js';
import { hashInWorker } from './verify.js';
import { fingerprint } from './store.js';
import { sortAdded, describeAsk, skippedText } from './duplicates.js';
import { announce, notify } from './announce.js';
import { createView, renderTotals } from './uploads-view.js';
import { renderUnfinished } from './unfinished.js';
import { dropHandle, handleFor, noteHandle, pickFiles } from './handles.js';

// addFiles puts files in the queue. The same file as a paused or stopped
// upload carries that one on; the same file as one finished, waiting or
// under way is asked about (upload again or skip), on screen.
export function addFiles(files) {
  const { fresh, carryOn, ask } = sortAdded(files, queue.uploads, fingerprint);
  const busy = [];
  for (const { file, upload } of carryOn) {
    if (!upload.active) {
      upload.replaceFile(file);
      const h = handleFor(file);
      if (h && upload.id !== null) handles.remember(upload.storeKey, h, file);
    }
    if (upload.state === 'paused') upload.resume();
    else if (upload.state === 'error') upload.retry();
    else busy.push(file.name);
  }
  if (busy.length) notify(skippedText(busy));
  enqueue(fresh, false);
  if (ask.length) askAboutDuplicates(ask);
}

// enqueue makes an Upload of each file; copy: each is a second copy of a
// file already listed.
function enqueue(files, copy) {
  let added = 0;
  let resumed = 0;
  for (const file of files) {
    const refusal = precheck(file, limits);
    const u = new Upload(file, {
      url: () => api.uploadSocketURL(),
      store,
      probe: () => api.probe(),
      remove: (id) => api.remove(id),
      hashFile: hashInWorker,
      copy,
    });
    if (u.resumedFromEarlierVisit) resumed++;
    added++;
    if (refusal) u.fail(refusal, ''); // never sent: the server would refuse it
    else keepHandle(u);
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

// keptFor is, for each upload, the id under which its file's handle was
// last kept.
const keptFor = new WeakMap();

// keepHandle keeps the handle the upload's file came with (a drop or the
// picker, in Chromium) under its store key once the upload has an id, and
// again when it gets a new one (an expired upload started over), so that
// after a reload it can resume without the file being chosen again. The
// store forgets the handle with the upload's record.
function keepHandle(upload) {
  upload.addEventListener('change', () => {
    if (upload.id === null || upload.finished || keptFor.get(upload) === upload.id) return;
    keptFor.set(upload, upload.id);
    const h = handleFor(upload.file);
    if (h) handles.remember(upload.storeKey, h, upload.file);
  });
}

// asking holds the duplicates the question on screen is about; a drop
// while it shows adds to it.
let asking = [];

function askAboutDuplicates(ask) {
  const box = $('duplicate-ask');
  const wasOpen = !box.hidden;
  if (!wasOpen) asking = [];
  asking.push(...ask);
  $('duplicate-text').textContent = describeAsk(asking);
  box.hidden = false;
  announce($('duplicate-text').textContent, true);
  if (!wasOpen) $('duplicate-skip').focus();
}

function answerDuplicates(again) {
  const files = asking.map((a) => a.file);
  asking = [];
  $('duplicate-ask').hidden = true;
  if (again) enqueue(files, true);
  else notify(skippedText(files.map((f) => f.name)));
  $('choose').focus();
}

function setupDuplicates() {
  $('duplicate-again').addEventListener('click', () => answerDuplicates(true));
  $('duplicate-skip').addEventListener('click', () => answerDuplicates(false));
  $('duplicate-ask').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    ev.preventDefault();
    answerDuplicates(false);
  });
}

// withPath is file under the name path (a folder's relative path, such as
// "photos/2026/a.jpg"), without copying its bytes.
function withPath(file, path) {
  if (!path || path === file.name) return file;
  return new File([file], path, { type: file.type, lastModified: file.lastModified });
}

// takeDrop splits a drop into files and folders. It must run during the
// drop event: the browser empties the DataTransfer afterwards.
function takeDrop(dt) {
  const files = [];
  const folders = [];
  const items = dt.items ? Array.from(dt.items) : [];
  if (!items.length) return { files: Array.from(dt.files || []), folders };
  for (const item of items) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry && entry.isDirectory) {
      folders.push(entry);
      continue;
    }
    const handle = dropHandle(item); // now: the DataTransfer empties after the event
    const f = item.getAsFile();
    if (f) {
      noteHandle(f, handle);
      files.push(f);
    }
  }
  return { files, folders };
}

// readFolder appends every file under dir to out, named by its path from
// the dropped folder.
async function readFolder(dir, prefix, out) {
  const reader = dir.createReader();
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return;
    for (const entry of batch) {
      if (entry.isDirectory) await readFolder(entry, `${prefix}${entry.name}/`, out);
      else out.push(withPath(await new Promise((resolve, reject) => entry.file(resolve, reject)), prefix + entry.name));
    }
  }
}

async function addDrop({ files, folders }) {
  if (!folders.length) {
    addFiles(files);
    return;
  }
  const inside = [];
  try {
    for (const dir of folders) await readFolder(dir, `${dir.name}/`, inside);
  } catch {
    notify('Some of the folder could not be read; its other files were added.');
  }
  const names = folders.map((d) => d.name).join(', ');
  notify(`${folders.length === 1 ? 'Folder' : 'Folders'} ${names}: ${inside.length} ${inside.length === 1 ? 'file' : 'files'} added, with their paths.`);
  addFiles([...files, ...inside]);
}

function hasFiles(ev) {
  return ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files');
}

export function setupDrop() {
  setupDuplicates();
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
    addDrop(takeDrop(ev.dataTransfer));
  });
  document.addEventListener('paste', (ev) => {
    const files = ev.clipboardData ? Array.from(ev.clipboardData.files || []) : [];
    if (files.length) addFiles(files);
  });
  const input = $('file-input');
  // "Choose files" opens the File System Access picker where there is one
  // (its files come with handles, so they can be resumed after a reload
  // without being chosen again), and <input type=file> elsewhere.
  $('choose').addEventListener('click', async () => {
    if (typeof window.showOpenFilePicker !== 'function') {
      input.click();
      return;
    }
    const files = await pickFiles(window, limits);
    if (files === null) input.click();
    else if (files.length) addFiles(files);
  });
  input.addEventListener('change', () => {
    addFiles(Array.from(input.files || []));
    input.value = ''; // choosing the same file again fires change again
  });
  const folder = $('folder-input');
  $('choose-folder').addEventListener('click', () => folder.click());
  folder.addEventListener('change', () => {
    const files = Array.from(folder.files || []).map((f) => withPath(f, f.webkitRelativePath));
    folder.value = '';
    if (files.length) notify(`${files.length} ${files.length === 1 ? 'file' : 'files'} from the folder added, with their paths.`);
    addFiles(files);
  });
}

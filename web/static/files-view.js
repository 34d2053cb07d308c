// files-view.js: the completed files (GET /api/files), newest first, with
// their thumbnails, player, download, "Copy link" and delete.

import { $, api } from './page.js';
import { HTTPError } from './api.js';
import { announce } from './announce.js';
import { showTokenNeeded } from './settings.js';
import { formatBytes, formatTime } from './format.js';

const fileViews = new Map(); // id -> list item
let filesNext = '';
let refreshTimer = 0;
const PAGE = 20; // files asked for at a time

export function refreshFilesSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => loadFiles(false), 250);
}

// loadFiles shows the completed files, newest first. A refresh (more =
// false) asks again for as many files as are shown (at least one page), so
// that the list stays in the server's order with no gaps: files that
// finished meanwhile come first, and those pushed past the end come back
// with "Show more", after the ones before them.
export async function loadFiles(more) {
  const status = $('files-status');
  const list = $('files');
  let page;
  try {
    const limit = more ? PAGE : Math.min(1000, Math.max(PAGE, list.children.length));
    page = await api.listFiles(more ? filesNext : '', limit);
  } catch (e) {
    status.hidden = false;
    if (e instanceof HTTPError && e.status === 401) {
      status.textContent = api.token
        ? 'The server rejected the access token. Enter a valid one under Settings to see the files.'
        : 'Enter the access token under Settings to see the files.';
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

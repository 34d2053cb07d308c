// settings.js: the Settings panel (access token, uploads at once), and
// asking for a token when the server wants one.

import { $, api, queue, DEFAULT_PARALLEL } from './page.js';
import { saveParallel, saveToken } from './store.js';
import { announce } from './announce.js';
import { loadFiles } from './files-view.js';
import { renderUnfinished, unfinishedInfo } from './unfinished.js';

function setSettingsOpen(open) {
  $('settings').hidden = !open;
  $('settings-toggle').setAttribute('aria-expanded', String(open));
}

let tokenAnnounced = false;

// showTokenNeeded opens Settings and asks for a token, saying whether the
// one entered was rejected or none was entered.
export function showTokenNeeded() {
  setSettingsOpen(true);
  const rejected = !!api.token;
  $('token-needed').textContent = rejected
    ? 'The server rejected this access token. Enter a valid one below; waiting uploads then carry on.'
    : 'This server needs an access token. Enter it below; waiting uploads then carry on.';
  $('token-needed').hidden = false;
  if (!tokenAnnounced) {
    tokenAnnounced = true;
    announce(rejected ? 'The server rejected the access token. Enter a valid one in Settings.' : 'This server needs an access token. Enter it in Settings.', true);
  }
}

export function setupSettings() {
  const form = $('settings-form');
  form.token.value = api.token;
  form.parallel.value = String(queue.parallel);
  // Escape closes the panel, and gives focus back to its button.
  $('settings').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    setSettingsOpen(false);
    $('settings-toggle').focus();
  });
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

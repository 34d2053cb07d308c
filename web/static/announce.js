// announce.js: what the page says, to screen readers (live regions) and,
// for what a sighted person would otherwise miss, on screen (notify).

const $ = (id) => document.getElementById(id);

const pending = { polite: [], urgent: [] };
let announceTimer = 0;

// announce queues a sentence for the polite live region (or the alert one).
// Sentences that come together are read together.
export function announce(text, urgent = false) {
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

let noticeTimer = 0;

// notify shows text in the notice under the drop zone for a few seconds
// (and reads it out): a folder that was dropped, duplicates skipped.
export function notify(text) {
  const el = $('notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    el.hidden = true;
  }, 8000);
  announce(text);
}

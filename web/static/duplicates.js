// duplicates.js: sorting files added to the page against the uploads
// already listed, so that the same file again is never sent twice unasked.

// sortAdded splits files (each with its fingerprint from fp) into:
//   fresh:   not in the list (or only cancelled there): add them;
//   carryOn: the same file as a paused or stopped upload: carry that one on;
//   ask:     the same file as one finished, queued or under way: ask the
//            person whether to upload it again or skip it.
// A file given twice in one batch is asked about the second time, as a
// copy of the first.
export function sortAdded(files, uploads, fp) {
  const fresh = [];
  const carryOn = [];
  const ask = [];
  const seen = new Map(); // fingerprint -> state, of this batch's fresh files
  for (const file of files) {
    const key = fp(file);
    const existing = uploads.find((u) => u.fingerprint === key && u.state !== 'cancelled');
    if (existing) {
      if (existing.state === 'paused' || existing.state === 'error') carryOn.push({ file, upload: existing });
      else ask.push({ file, state: existing.state });
      continue;
    }
    if (seen.has(key)) {
      ask.push({ file, state: 'queued' });
      continue;
    }
    seen.set(key, 'queued');
    fresh.push(file);
  }
  return { fresh, carryOn, ask };
}

// describeAsk is the question's text for the files in ask.
export function describeAsk(ask) {
  const what = (s) => (s === 'done' ? 'finished' : s === 'queued' ? 'waiting' : 'under way');
  if (ask.length === 1) return `${ask[0].file.name} is already in the uploads (${what(ask[0].state)}). Upload it again as a second copy, or skip it?`;
  const names = ask.slice(0, 3).map((a) => `${a.file.name} (${what(a.state)})`);
  const more = ask.length > 3 ? ` and ${ask.length - 3} more` : '';
  return `${ask.length} files are already in the uploads: ${names.join(', ')}${more}. Upload them again as second copies, or skip them?`;
}

// skippedText is what the page says after the person chose to skip.
export function skippedText(names) {
  if (names.length === 1) return `Skipped ${names[0]}: it is already in the uploads.`;
  const shown = names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  return `Skipped ${names.length} files already in the uploads (${shown}).`;
}

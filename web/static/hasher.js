// hasher.js: a Worker that computes the SHA-256 of one File, piece by
// piece, so that files of any size are checked end to end without holding
// them in memory and without taking the page's thread (verify.js starts it).
//
// Message in: {file: File, piece?: bytes per read}. Messages out:
// {done: bytes hashed so far} now and then, then {sha256: lowercase hex}
// or {error: text}.

import { sha256 } from './vendor/noble-hashes/sha2.js';

const PIECE = 4 << 20;

// hashBlob hashes blob in pieces, calling progress(done) after each.
export async function hashBlob(blob, progress = () => {}, piece = PIECE) {
  const h = sha256.create();
  for (let at = 0; at < blob.size; at += piece) {
    const bytes = new Uint8Array(await blob.slice(at, Math.min(blob.size, at + piece)).arrayBuffer());
    h.update(bytes);
    progress(Math.min(blob.size, at + piece));
  }
  return hex(h.digest());
}

export function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

// In a Worker (not when imported by node --test), answer the page.
if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) {
  globalThis.onmessage = async (ev) => {
    const { file, piece } = ev.data || {};
    try {
      const sha = await hashBlob(file, (done) => globalThis.postMessage({ done }), piece || PIECE);
      globalThis.postMessage({ sha256: sha });
    } catch (e) {
      globalThis.postMessage({ error: String((e && e.message) || e) });
    }
  };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hashBlob } from '../static/hasher.js';

// The vendored SHA-256 against known answers (FIPS 180-2) and node's own,
// across piece boundaries.
test('hashBlob computes SHA-256 piece by piece', async () => {
  assert.equal(await hashBlob(new Blob([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(await hashBlob(new Blob(['abc'])), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const bytes = new Uint8Array(1000003);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255;
  const want = createHash('sha256').update(bytes).digest('hex');
  const seen = [];
  for (const piece of [64, 1000, 65536, 1 << 22]) {
    assert.equal(await hashBlob(new Blob([bytes]), (d) => seen.push(d), piece), want, `piece ${piece}`);
  }
  assert.equal(seen[seen.length - 1], bytes.length);
});

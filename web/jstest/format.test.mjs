import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatSpeed, percent } from '../static/format.js';

test('formatBytes speaks binary units, as the server does', () => {
  const cases = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [1 << 20, '1 MiB'],
    [10.5 * 2 ** 20, '10.5 MiB'],
    [123.4 * 2 ** 20, '123 MiB'],
    [5e9, '4.66 GiB'],
    [-1, '–'],
    [NaN, '–'],
  ];
  for (const [n, want] of cases) assert.equal(formatBytes(n), want, String(n));
  assert.equal(formatSpeed(33.8 * 2 ** 20), '33.8 MiB/s');
});

test('formatDuration', () => {
  const cases = [
    [0, '0 s'],
    [0.2, '1 s'],
    [59, '59 s'],
    [60, '1 min'],
    [185, '3 min 5 s'],
    [3600, '1 h'],
    [7440, '2 h 4 min'],
    [Infinity, '–'],
  ];
  for (const [n, want] of cases) assert.equal(formatDuration(n), want, String(n));
});

test('percent rounds down so 100% means finished', () => {
  assert.equal(percent(0, 0), 0);
  assert.equal(percent(999, 1000), 99);
  assert.equal(percent(1000, 1000), 100);
  assert.equal(percent(2000, 1000), 100);
});

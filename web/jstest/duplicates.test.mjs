import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sortAdded, describeAsk, skippedText } from '../static/duplicates.js';

const fp = (f) => JSON.stringify([f.name, f.size]);
const file = (name, size = 1) => ({ name, size });
const upload = (name, state) => ({ fingerprint: fp(file(name)), state });

test('sorts added files by what is already listed', () => {
  const uploads = [
    upload('done.txt', 'done'),
    upload('running.txt', 'uploading'),
    upload('waiting.txt', 'queued'),
    upload('paused.txt', 'paused'),
    upload('failed.txt', 'error'),
    upload('gone.txt', 'cancelled'),
  ];
  const names = ['new.txt', 'done.txt', 'running.txt', 'waiting.txt', 'paused.txt', 'failed.txt', 'gone.txt'];
  const { fresh, carryOn, ask } = sortAdded(names.map((n) => file(n)), uploads, fp);
  assert.deepEqual(fresh.map((f) => f.name), ['new.txt', 'gone.txt']);
  assert.deepEqual(carryOn.map((c) => [c.file.name, c.upload.state]), [
    ['paused.txt', 'paused'],
    ['failed.txt', 'error'],
  ]);
  assert.deepEqual(ask.map((a) => [a.file.name, a.state]), [
    ['done.txt', 'done'],
    ['running.txt', 'uploading'],
    ['waiting.txt', 'queued'],
  ]);
});

test('the same file twice in one batch is asked about once', () => {
  const { fresh, ask } = sortAdded([file('a'), file('a'), file('a', 2)], [], fp);
  assert.deepEqual(fresh.map((f) => [f.name, f.size]), [['a', 1], ['a', 2]]);
  assert.deepEqual(ask.map((a) => [a.file.name, a.state]), [['a', 'queued']]);
});

test('the question names the files and what they are', () => {
  assert.equal(
    describeAsk([{ file: file('x.bin'), state: 'done' }]),
    'x.bin is already in the uploads (finished). Upload it again as a second copy, or skip it?',
  );
  const many = ['a', 'b', 'c', 'd', 'e'].map((n, i) => ({ file: file(n), state: ['done', 'queued', 'uploading', 'done', 'done'][i] }));
  assert.equal(
    describeAsk(many),
    '5 files are already in the uploads: a (finished), b (waiting), c (under way) and 2 more. Upload them again as second copies, or skip them?',
  );
  assert.equal(skippedText(['x']), 'Skipped x: it is already in the uploads.');
  assert.equal(skippedText(['a', 'b', 'c', 'd']), 'Skipped 4 files already in the uploads (a, b, c and 1 more).');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from '../static/queue.js';
import { settle } from './fakes.mjs';

// A stand-in for an Upload: the queue needs state, active, begin and events.
class Item extends EventTarget {
  constructor(size) {
    super();
    this.size = size;
    this.offset = 0;
    this.speed = 0;
    this.state = 'queued';
  }
  get active() {
    return this.state === 'uploading';
  }
  begin() {
    this.state = 'uploading';
    this.dispatchEvent(new Event('change'));
  }
  finish() {
    this.offset = this.size;
    this.state = 'done';
    this.dispatchEvent(new Event('change'));
  }
}

test('runs at most `parallel` uploads, in the order added', async () => {
  const q = new Queue(2);
  const items = [1, 2, 3, 4].map((n) => new Item(n));
  for (const i of items) q.add(i);
  await settle();
  assert.deepEqual(items.map((i) => i.state), ['uploading', 'uploading', 'queued', 'queued']);
  items[1].finish();
  await settle();
  assert.deepEqual(items.map((i) => i.state), ['uploading', 'done', 'uploading', 'queued']);
  q.setParallel(3);
  await settle();
  assert.equal(items[3].state, 'uploading');
});

test('totals count stopped files but not their bytes', async () => {
  const q = new Queue(1);
  const a = new Item(10);
  const b = new Item(20);
  const c = new Item(30);
  for (const i of [a, b, c]) q.add(i);
  await settle();
  a.finish();
  b.state = 'error';
  c.state = 'cancelled';
  const t = q.totals();
  assert.deepEqual(t, { size: 10, offset: 10, speed: 0, done: 1, count: 2, stopped: 1 });
});

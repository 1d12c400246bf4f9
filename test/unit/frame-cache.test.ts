import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameCache } from '../../provisioning/province-services.js';

test('the chunk frame cache keeps recently used frames within its byte budget', () => {
  const c = new FrameCache(300);
  c.set('a', Buffer.alloc(100));
  c.set('b', Buffer.alloc(100));
  c.set('c', Buffer.alloc(100));
  assert.ok(c.get('a'), 'a used again: now most recent');
  c.set('d', Buffer.alloc(100));
  assert.is(c.get('b'), undefined, 'least recently used went first');
  assert.ok(c.get('a') && c.get('c') && c.get('d'));
  c.set('big', Buffer.alloc(250));
  assert.ok(c.get('big'));
  assert.is(c.get('c'), undefined);
});

test.run();

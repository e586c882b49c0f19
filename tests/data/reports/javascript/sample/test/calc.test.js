'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { add, div, clamp } = require('../src/calc.js');

test('add adds', () => {
  assert.strictEqual(add(2, 3), 5);
});

test('div divides', () => {
  assert.strictEqual(div(1, 2), 0.4);
});

test('clamp keeps values in range', () => {
  assert.strictEqual(clamp(5, 0, 10), 5);
  assert.strictEqual(clamp(-1, 0, 10), 0);
});

test('div by zero throws', { skip: 'not written yet' }, () => {
  assert.throws(() => div(1, 0));
});

test.describe('clamp', () => {
  test.it('raises low values', () => {
    assert.strictEqual(clamp(-5, 0, 10), 0);
  });
  test.it('lowers high values', () => {
    assert.strictEqual(clamp(50, 0, 10), 100);
  });
  test.it('handles NaN', { todo: 'decide what NaN means' }, () => {
    assert.ok(Number.isNaN(clamp(NaN, 0, 10)));
  });
});

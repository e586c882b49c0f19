'use strict';

const { add, div, clamp } = require('../src/calc.js');

describe('add', () => {
  it('adds two numbers', () => {
    expect(add(2, 3)).toBe(5);
  });
});

describe('div', () => {
  it('divides', () => {
    expect(div(1, 2)).toBe(0.5);
  });
  it('throws on zero', () => {
    expect(() => div(1, 0)).toThrow(TypeError);
  });
  it.skip('rounds', () => {
    expect(div(1, 3)).toBe(0.33);
  });
});

describe('clamp', () => {
  it('keeps values in range', () => {
    expect(clamp(5, 0, 10)).toBe(5);
  });
  it.todo('handles NaN');
});

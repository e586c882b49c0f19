'use strict';

function add(a, b) {
  return a + b;
}

function div(a, b) {
  if (b === 0) {
    throw new RangeError('division by zero');
  }
  return a / b;
}

function clamp(value, low, high) {
  if (value < low) {
    return low;
  }
  if (value > high) {
    return high;
  }
  return value;
}

function unused(text) {
  const words = text.split(' ');
  return words.length;
}

module.exports = { add, div, clamp, unused };

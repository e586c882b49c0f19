'use strict';

function label(value, unit) {
  const spare = 1;
  if (value == null) {
    return '-';
  }
  // eslint-disable-next-line no-console -- kept for the demo: a suppressed finding
  console.log('formatting', value);
  return value + ' ' + unit;
}

module.exports = { label };

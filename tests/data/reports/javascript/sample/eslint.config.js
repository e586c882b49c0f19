'use strict';

const js = require('@eslint/js');

module.exports = [
  js.configs.recommended,
  {
    files: ['src/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', console: 'readonly' } },
    rules: {
      eqeqeq: 'error',
      'no-unused-vars': 'warn',
      'no-console': 'warn',
    },
  },
];

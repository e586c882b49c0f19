'use strict';

module.exports = {
  testMatch: ['<rootDir>/jest/**/*.test.js'],
  reporters: ['default', ['jest-junit', { outputDirectory: '.', outputName: 'jest-junit.xml' }]],
};

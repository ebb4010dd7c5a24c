'use strict';
/**
 * Module-load probe for `npm run bench`, run in a fresh Node process per measurement
 * (bin/bench/lambdas.ts). Environment: BENCH_SDK_MODULES (JSON list of the `@aws-sdk/*` packages
 * the bundle imports), BENCH_BUNDLE (the bundle's path), and the handler's own environment.
 *
 * 1. Requires the SDK packages, then creates one client of each with default settings, and lets
 *    one event-loop turn pass: what the SDK clients the handler uses cost before any of its code
 *    runs. Creating the first client compiles most of the SDK's shared client code, whoever's code
 *    asks for it, so it belongs to the SDK's share.
 * 2. Requires the bundle (whose SDK imports are then loaded) and lets one event-loop turn pass, so
 *    that what the bundle defers (the handler's `import('@middy/core')` chain) counts too: the
 *    handler's own code, creating its own clients with the project's settings included.
 *
 * Both parts come from one process, so the machine's noise moves them together. Prints one JSON
 * line: `{ sdkRequire, sdkCreate, own }` in milliseconds. Fails when the bundle does not create a
 * client of every package it imports at load, since the SDK's share would then be overstated.
 */
const now = () => Number(process.hrtime.bigint()) / 1e6;
const names = JSON.parse(process.env.BENCH_SDK_MODULES ?? '[]');

const start = now();
const modules = names.map((name) => require(name));
const required = now();

// Not timed: finding each package's client class (`SSMClient`, ...) and counting the bundle's clients.
const clientKeys = modules.map((module, index) => {
  const key = Object.keys(module).find(
    (name) => name !== '__Client' && name.endsWith('Client') && typeof module[name]?.prototype?.send === 'function',
  );
  if (key === undefined) throw new Error(`${names[index]} exports no client class`);
  return key;
});

const creating = now();
clientKeys.forEach((key, index) => new modules[index][key]({}));
setImmediate(() => {
  const created = now();
  const createdByBundle = new Set();
  clientKeys.forEach((key, index) => {
    const Client = modules[index][key];
    modules[index][key] = class extends Client {
      constructor(...args) {
        super(...args);
        createdByBundle.add(names[index]);
      }
    };
  });

  const loading = now();
  require(process.env.BENCH_BUNDLE);
  setImmediate(() => {
    const loaded = now();
    const missing = names.filter((name) => !createdByBundle.has(name));
    if (missing.length > 0) throw new Error(`the bundle imports ${missing.join(', ')} but creates no client of it at load`);
    process.stdout.write(JSON.stringify({ sdkRequire: required - start, sdkCreate: created - creating, own: loaded - loading }));
  });
});

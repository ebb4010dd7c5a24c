import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, Stage } from 'aws-cdk-lib';
import { LgtmFunction } from '../lib/lgtm-function';
import { resourcesOf, synthStack } from './helpers';

describe('handler bundles', () => {
  const { stack, template } = synthStack();
  const outdir = Stage.of(stack)?.outdir as string;
  const functions = stack.node.findAll().filter((c): c is LgtmFunction => c instanceof LgtmFunction);
  /** The staged asset directory of a function, from the S3 key `<hash>.zip` in its template. */
  const assetDir = (fn: LgtmFunction): string => {
    const id = Stack.of(fn).getLogicalId(fn.function.node.defaultChild as never);
    const code = resourcesOf(template, 'AWS::Lambda::Function')[id].Properties.Code as { S3Key: string };
    return join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
  };

  test('every function has a bundle of its own', () => {
    expect(functions.length).toBeGreaterThanOrEqual(4);
    expect(new Set(functions.map(assetDir)).size).toBe(functions.length);
  });

  test.each(functions.map((fn) => [fn.handlerFolder, fn] as const))('the %s bundle is built from its own handler only', (folder, fn) => {
    const map = join(assetDir(fn), 'index.js.map');
    expect(existsSync(map)).toBe(true);
    const sources = (JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] }).sources;
    expect(sources.some((s) => s.endsWith(`${folder}/index.ts`))).toBe(true);
    for (const other of functions.filter((f) => f.handlerFolder !== folder)) {
      expect(sources.some((s) => s.endsWith(`${other.handlerFolder}/index.ts`))).toBe(false);
    }
  });
});

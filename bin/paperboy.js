#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so `paperboy` works from a clone without a build.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register();
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/cli.ts');
process.argv[1] = cli;
await import(cli);

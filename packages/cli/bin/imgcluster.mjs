#!/usr/bin/env node
// The imgcluster command line. The sources are TypeScript: tsx compiles them as they load.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');

// Given to a geo process with NODE_OPTIONS=--import=<this file>: records every module it resolves
// from @opentelemetry in the file GEO_TEST_IMPORTS_FILE names, so a test can tell whether that
// process loaded any of OpenTelemetry at all.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url, { data: { file: process.env.GEO_TEST_IMPORTS_FILE } });

import { describe, expect, it } from 'vitest';
import { batchIdFor, canonicalJson, idPrefixFor, jobIdFor, taskIdFor } from '../../src/core/ids.js';

describe('ids', () => {
  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: 3 } })).toBe('{"a":{"c":3,"d":[{"x":2,"y":1}]},"b":1}');
  });

  it('job id is sha256 of type, colon and canonical parameters, whatever the key order', () => {
    const a = jobIdFor('hello_world', { n: 10, name: 'World' });
    const b = jobIdFor('hello_world', { name: 'World', n: 10 });
    expect(a).toBe(b);
    // sha256('hello_world:{"n":10,"name":"World"}'), computed independently.
    expect(a).toBe('e3d84faf2a89fc3e6190723d615e8742a6d6db3243aa2ee87f2777eeaf971eb8');
    expect(jobIdFor('hello_world', { n: 11, name: 'World' })).not.toBe(a);
  });

  it('task and batch ids derive from the job id prefix, stage and semantic key', () => {
    const prefix = idPrefixFor('abcdef0123456789'.padEnd(64, '0'));
    expect(prefix).toBe('abcdef0123456789');
    expect(taskIdFor(prefix, 1, 'greet-17')).toBe('abcdef0123456789-s1-greet-17');
    expect(batchIdFor(prefix, 2, 3)).toBe('abcdef0123456789-s2-b3');
  });
});

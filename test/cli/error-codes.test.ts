import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor, exitCodeForOutcome } from '../../src/cli/exit-codes.js';
import { DependencyError, ERROR_KINDS, GeoError, InputError, TransportError } from '../../src/errors.js';

describe('one registry from error code to kind to exit code', () => {
  // These hold because the compiler refuses the lines marked @ts-expect-error (npm test runs tsc on the tests).
  it('the compiler refuses a code the registry does not list, and an input error with a code of another kind', () => {
    // @ts-expect-error: not a code of the registry
    const unknown = new InputError('NO_SUCH_CODE', 'x');
    // @ts-expect-error: INTERNAL is kind internal, which an InputError cannot carry
    const wrongKind = new InputError('INTERNAL', 'x');
    expect([unknown.kind, wrongKind.kind]).toEqual(['input', 'internal']);
    expect(ERROR_KINDS.INPUT_CHECK_FAILED).toBe('internal');
  });

  it('QUEUE_NOT_FOUND is exit 2 at start-up (InputError) and mid-run (a permanent TransportError) alike', () => {
    const atStart = new InputError('QUEUE_NOT_FOUND', 'queue geo-tasks does not exist');
    const midRun = new TransportError('QUEUE_NOT_FOUND', 'queue not found', { retryable: false });
    const wrapped = new DependencyError(midRun.code, midRun.message, { cause: midRun });
    expect([atStart, midRun, wrapped].map(exitCodeFor)).toEqual([EXIT.input, EXIT.input, EXIT.input]);
    expect(exitCodeForOutcome({ stoppedBy: midRun, unfinished: 4_000 })).toBe(EXIT.input);
  });

  it('a broker error code means exit 3 whether or not it was retryable', () => {
    const retryable = new TransportError('SERVICEBUS_CONNECTION', 'connection lost', { retryable: true });
    const atStart = new DependencyError('SERVICEBUS_CONNECTION', 'cannot connect');
    expect([retryable, atStart].map(exitCodeFor)).toEqual([EXIT.dependency, EXIT.dependency]);
    // A broker's own error name that the registry cannot list keeps its class's kind.
    expect(exitCodeFor(new TransportError('SERVICEBUS_SOME_NEW_CONDITION', 'x', { retryable: false }))).toBe(EXIT.dependency);
  });

  it('a run outcome: a stop for configuration or a dependency says so, else unfinished work is 1', () => {
    const interrupted = new GeoError('incomplete', 'INTERRUPTED', 'interrupted');
    expect(exitCodeForOutcome({ unfinished: 0 })).toBe(EXIT.ok);
    expect(exitCodeForOutcome({ unfinished: 3 })).toBe(EXIT.incomplete);
    expect(exitCodeForOutcome({ stoppedBy: interrupted, unfinished: 10 })).toBe(EXIT.incomplete);
    // An interrupt that came after the last batch left nothing undone.
    expect(exitCodeForOutcome({ stoppedBy: interrupted, unfinished: 0 })).toBe(EXIT.ok);
    expect(exitCodeForOutcome({ stoppedBy: new DependencyError('TRANSPORT_UNAVAILABLE', 'down'), unfinished: 10 })).toBe(EXIT.dependency);
    expect(exitCodeForOutcome({ misconfigured: true, unfinished: 1 })).toBe(EXIT.input);
  });

  it("an error that is not geo's is exit 1", () => {
    expect(exitCodeFor(new Error('bug'))).toBe(EXIT.incomplete);
  });
});

/**
 * Moments of the batch protocol, for observers (the crash tests stop a
 * process at one of them): `written` after step 1 committed, `sent` after
 * step 2 and before step 3, `resumed` after a pending batch was claimed to be
 * sent again.
 */
export type ProtocolPhase = 'written' | 'sent' | 'resumed';
export type PhaseObserver = (phase: ProtocolPhase, batchIds: string[]) => void | Promise<void>;

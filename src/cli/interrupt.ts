/** Aborted on the first Ctrl-C; long-running commands pass its signal to the core. */
export const interruption = new AbortController();

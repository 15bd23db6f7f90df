// rhea ships no types for its internal frame encoders (used by internals.ts).
declare module 'rhea/lib/frames.js';

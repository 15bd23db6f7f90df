import { describe, expect, it } from 'vitest';
import { connectionStringFields, parseConnectionString } from '../../src/config/connection-string.js';
import { REDACTED, redact, redactor, urlSecrets } from '../../src/secrets/redact.js';
import { translateConnectError } from '../../src/store/pool.js';

const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

describe('the connection-string parser', () => {
  it('matches keys without regard to case and keeps values that contain "="', () => {
    const cs = parseConnectionString(`Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${KEY};`);
    expect(cs.get('endpoint')).toBe('sb://ns.servicebus.windows.net/');
    expect(cs.get('SHAREDACCESSKEY')).toBe(KEY);
    expect(cs.get('EntityPath')).toBeUndefined();
    expect(connectionStringFields(cs.text).get('sharedaccesskeyname')).toBe('send');
  });

  it('lists every secret it holds: keys, SAS signatures, and credentials inside endpoint URLs', () => {
    const cs = parseConnectionString(
      `AccountKey=${KEY};SharedAccessSignature=sv=2022&sig=SIGabc%2Fdef;QueueEndpoint=https://u:p4ss@acct.queue.core.windows.net/?sig=QSIG`,
    );
    expect(cs.secrets()).toEqual(expect.arrayContaining([KEY, 'sv=2022&sig=SIGabc%2Fdef', 'p4ss', 'QSIG']));
  });
});

describe('the redactor', () => {
  it('removes every given secret and any secret-shaped field, whatever else the text holds', () => {
    const clean = redactor([KEY, undefined, ''])(`failed with key ${KEY}; sig=abc%2Bdef&se=1 AccountKey=other SharedAccessKey=x password=hunter2`);
    expect(clean).not.toContain(KEY);
    expect(clean).toBe(`failed with key ${REDACTED}; sig=${REDACTED}&se=1 AccountKey=${REDACTED} SharedAccessKey=${REDACTED} password=${REDACTED}`);
  });

  it('removes a longer secret whole when it contains a shorter one', () => {
    expect(redact('token abcdef-123456', ['abc', 'abcdef-123456'])).toBe(`token ${REDACTED}`);
  });

  it('finds the password of a URL as written and decoded, and a SAS query', () => {
    expect(urlSecrets('postgresql://geo:p%40ss@db:5432/geo')).toEqual(['p%40ss', 'p@ss']);
    expect(urlSecrets('https://acct.queue.core.windows.net/?sv=1&sig=S%2B1')).toEqual(expect.arrayContaining(['S+1', 'sv=1&sig=S%2B1']));
    expect(urlSecrets('not a url')).toEqual([]);
  });

  it('keeps a database password out of a connection error', () => {
    const err = translateConnectError(new Error('password authentication failed: p@ss rejected'), 'postgresql://geo:p%40ss@db:5432/geo');
    expect(err.message).not.toContain('p@ss');
    expect(err.message).toContain('db:5432/geo');
  });
});

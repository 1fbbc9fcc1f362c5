import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { hashSecret, isSecretHeader, isSecretResponseHeader, recordHeaders } from '../../src/capture/header-redaction.js';
import { upstreamTarget } from '../../src/capture/capture-handler.js';

describe('header recording', () => {
  it('hashes secrets as sha256:<first 16 hex>, deterministic per value', () => {
    const want = `sha256:${createHash('sha256').update('sk-ant-abc').digest('hex').slice(0, 16)}`;
    expect(hashSecret('sk-ant-abc')).toBe(want);
    expect(hashSecret('sk-ant-abc')).toBe(hashSecret('sk-ant-abc'));
    expect(hashSecret('sk-ant-abd')).not.toBe(want);
  });

  it('treats x-api-key, authorization, cookie, proxy-authorization and /key|token|secret|auth/i names as secrets', () => {
    for (const n of ['x-api-key', 'Authorization', 'cookie', 'proxy-authorization', 'x-goog-api-key', 'x-session-token', 'X-Client-Secret', 'x-oauth-thing']) {
      expect(isSecretHeader(n)).toBe(true);
    }
    for (const n of ['content-type', 'user-agent', 'anthropic-version', 'anthropic-beta', 'x-stainless-lang']) expect(isSecretHeader(n)).toBe(false);
  });

  it('keeps rate-limit counters in response headers but hashes set-cookie', () => {
    expect(isSecretResponseHeader('anthropic-ratelimit-input-tokens-remaining')).toBe(false);
    expect(isSecretResponseHeader('set-cookie')).toBe(true);
  });

  it('produces claude-code-proxy\'s {name: [values]} shape from Headers, objects and pairs', () => {
    const h = new Headers([
      ['X-Api-Key', 'sk-1'],
      ['Accept', 'a'],
      ['Accept', 'b'],
    ]);
    const fromHeaders = recordHeaders(h);
    expect(fromHeaders['x-api-key']).toEqual([hashSecret('sk-1')]);
    expect(fromHeaders['accept']).toEqual(['a, b']);
    expect(recordHeaders({ 'set-cookie': ['a=1', 'b=2'], 'x-y': 'z' }, isSecretResponseHeader)).toEqual({
      'set-cookie': [hashSecret('a=1'), hashSecret('b=2')],
      'x-y': ['z'],
    });
    expect(recordHeaders([['Authorization', 'Bearer t'], ['x', '1']])).toEqual({ authorization: [hashSecret('Bearer t')], x: ['1'] });
    expect(JSON.stringify(recordHeaders([['authorization', 'Bearer plain']]))).not.toContain('plain');
  });

  it('maps request paths onto the upstream, keeping a base path and the query string', () => {
    expect(upstreamTarget('http://h:1', new URL('http://p/v1/messages?beta=true'))).toEqual({ origin: 'http://h:1', path: '/v1/messages?beta=true', url: 'http://h:1/v1/messages?beta=true' });
    expect(upstreamTarget('https://gw.example/anthropic/', new URL('http://p/v1/models')).url).toBe('https://gw.example/anthropic/v1/models');
  });
});

import { describe, expect, it } from 'vitest';
import { shortIds } from '../../src/shared/short-id.js';

describe('shortIds', () => {
  it('cuts each id to the shortest unique prefix of at least min characters', () => {
    const m = shortIds(['abcdef0123456789ab', 'abcdef9999999999ab', 'ffff000011112222ab'], 4);
    expect(m.get('abcdef0123456789ab')).toBe('abcdef0');
    expect(m.get('abcdef9999999999ab')).toBe('abcdef9');
    expect(m.get('ffff000011112222ab')).toBe('ffff');
  });
  it('shortens the head of agent ids and keeps the /sub-N tail', () => {
    const conv = '388d47c4-14c7-46d8-a3ff-ae314d5f2530';
    const m = shortIds([conv, `${conv}/sub-1`, `${conv}/sub-12`, 'unattributed/side']);
    expect(m.get(conv)).toBe('388d47c');
    expect(m.get(`${conv}/sub-12`)).toBe('388d47c/sub-12');
    expect(m.get('unattributed/side')).toBe('unattributed/side');
  });
  it('keeps ids shorter than the prefix and an id that is a prefix of another', () => {
    const m = shortIds(['abc', 'abcdefgh1abcdefgh1', 'abcdefgh2abcdefgh2'], 2);
    expect(m.get('abc')).toBe('abc');
    expect(m.get('abcdefgh1abcdefgh1')).toBe('abcdefgh1');
  });
});

describe('shortIds with a namespace', () => {
  it('counts the minimum after a leading `kind:` namespace', () => {
    const m = shortIds(['claude:92ee5b8a-429c-e80b-5db6-5381512f4697', 'codex:a1b2c3d4-0000-1111-2222-333344445555']);
    expect(m.get('claude:92ee5b8a-429c-e80b-5db6-5381512f4697')).toBe('claude:92ee5b8');
    expect(m.get('codex:a1b2c3d4-0000-1111-2222-333344445555')).toBe('codex:a1b2c3d');
  });
});

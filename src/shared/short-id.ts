/**
 * Git-style short ids: each id cut to the shortest prefix (at least `min` characters) that no other id in the set
 * shares (a leading `namespace:` does not count towards `min`); heads of at most 16 characters (`unattributed`) stay whole. Ids of the form `<head>/<rest>` (agent ids: `<conversation>/sub-3`) shorten the head only, so
 * `388d47c4-14c7-…/sub-3` reads `388d47c/sub-3`. Ids shorter than the prefix are kept whole.
 */
export function shortIds(ids: Iterable<string>, min = 7): Map<string, string> {
  const all = [...new Set(ids)];
  const headOf = (id: string) => {
    const i = id.indexOf('/');
    return i < 0 ? id : id.slice(0, i);
  };
  const heads = [...new Set(all.map(headOf))].sort();
  const len = new Map<string, number>();
  const lcp = (a: string, b: string) => {
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
  };
  heads.forEach((h, i) => {
    const prev = i > 0 ? lcp(h, heads[i - 1]!) : 0;
    const next = i + 1 < heads.length ? lcp(h, heads[i + 1]!) : 0;
    // A namespace such as `claude:` or `msg:` is not part of the id proper: `min` counts after it.
    const ns = /^[a-z][\w-]*:/i.exec(h)?.[0].length ?? 0;
    len.set(h, h.length <= 16 ? h.length : Math.min(h.length, Math.max(ns + min, prev + 1, next + 1)));
  });
  return new Map(all.map((id) => {
    const h = headOf(id);
    return [id, h.slice(0, len.get(h)!) + id.slice(h.length)];
  }));
}

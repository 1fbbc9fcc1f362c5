/**
 * Freezes an object graph in place (plain objects and arrays; typed arrays and other ArrayBuffer views are left
 * as they are — they cannot be frozen). Already-frozen nodes are not revisited.
 */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o) && !ArrayBuffer.isView(o)) {
    Object.freeze(o);
    if (Array.isArray(o)) for (const v of o) deepFreeze(v);
    else for (const k in o) deepFreeze((o as Record<string, unknown>)[k]);
  }
  return o;
}

"""Fake mlx_lm.models.cache: a KVCache that stores the token ids it has 'seen' (offset = len)."""


class KVCache:
    def __init__(self):
        self.tokens = []

    @property
    def offset(self):
        return len(self.tokens)

    def update(self, tokens):
        self.tokens.extend(int(t) for t in tokens)

    def is_trimmable(self):
        return True

    def trim(self, n):
        n = min(self.offset, n)
        del self.tokens[len(self.tokens) - n :]
        return n

    @property
    def state(self):
        return self.tokens


def make_prompt_cache(model, max_kv_size=None):
    return [KVCache() for _ in range(len(model.layers))]


def can_trim_prompt_cache(cache):
    return all(c.is_trimmable() for c in cache)


def trim_prompt_cache(cache, num_tokens):
    if not can_trim_prompt_cache(cache) or len(cache) == 0:
        return 0
    return [c.trim(num_tokens) for c in cache][0]

"""Fake mlx_lm.sample_utils (the fake model picks tokens itself; greedy)."""


def make_sampler(temp=0.0, top_p=0.0, min_p=0.0, min_tokens_to_keep=1, top_k=-1, **kwargs):
    return lambda logprobs: logprobs

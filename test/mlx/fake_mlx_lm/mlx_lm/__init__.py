"""Test double of mlx_lm (no mlx here): the same entry points and shapes the trace worker uses — load,
stream_generate (with generate_step's pipelining: the next token is computed before the current one is
yielded), GenerationResponse, and a prompt cache that really stores tokens, so reuse is observable: the fake
model's next token is a hash of EVERYTHING in the cache, and model.evaluated counts tokens run through it.
Deterministic byte-level tokenizer: ids 0-255 are bytes, 256 <|endoftext|>, 257 <|im_start|>, 258 <|im_end|>.
Env: FAKE_MLX_TOKEN_DELAY_MS (per generated token, default 1), FAKE_MLX_FAIL_LOAD=1 (load raises),
FAKE_MLX_EOS_AFTER=N (emit <|im_end|> after N tokens). A prompt containing token 7 (BEL) kills the process."""
import os
import time
from dataclasses import dataclass
from typing import Optional

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB = 256 + len(SPECIALS)
EOS = 258


class _Detokenizer:
    def __init__(self):
        self.reset()

    def reset(self):
        self._bytes = b""
        self._emitted = 0

    def add_token(self, token):
        self._bytes += bytes([token]) if token < 256 else SPECIALS[token - 256].encode()

    def finalize(self):
        self._final = True

    @property
    def last_segment(self):
        text = self._bytes.decode("utf-8", errors="ignore")
        # hold back an incomplete utf-8 tail
        complete = len(self._bytes)
        while complete > 0:
            try:
                self._bytes[:complete].decode("utf-8")
                break
            except UnicodeDecodeError:
                complete -= 1
        text = self._bytes[:complete].decode("utf-8")
        seg = text[self._emitted :]
        self._emitted = len(text)
        return seg


class FakeTokenizer:
    bos_token = None
    chat_template = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    def __init__(self):
        self.eos_token_ids = {EOS}
        self.detokenizer = _Detokenizer()

    def encode(self, text, add_special_tokens=True):
        out, i = [], 0
        while i < len(text):
            for k, s in enumerate(SPECIALS):
                if text.startswith(s, i):
                    out.append(256 + k)
                    i += len(s)
                    break
            else:
                out.extend(text[i].encode("utf-8"))
                i += 1
        return out

    def decode(self, ids):
        raw = b"".join(bytes([t]) if t < 256 else SPECIALS[t - 256].encode() for t in ids)
        return raw.decode("utf-8", errors="replace")


@dataclass
class ModelArgs:
    num_hidden_layers: int = 2
    hidden_size: int = 64
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 8192


class FakeModel:
    def __init__(self):
        self.args = ModelArgs()
        self.layers = [object()] * self.args.num_hidden_layers
        self.evaluated = 0

    def __call__(self, tokens, cache):
        for c in cache:
            c.update(tokens)
        self.evaluated += len(tokens)
        h = 1469598103934665603
        for t in cache[0].tokens:  # next token depends on the whole cached context
            h = ((h ^ (t + 1)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        return 32 + (h % 95)  # printable ASCII


_LAST_MODEL = None


def load(path, **kwargs):
    global _LAST_MODEL
    if os.environ.get("FAKE_MLX_FAIL_LOAD") == "1" or not path:
        raise FileNotFoundError(f"no model at {path!r}")
    _LAST_MODEL = FakeModel()
    return _LAST_MODEL, FakeTokenizer()


@dataclass
class GenerationResponse:
    text: str
    token: int
    logprobs: object
    from_draft: bool
    prompt_tokens: int
    prompt_tps: float
    generation_tokens: int
    generation_tps: float
    peak_memory: float
    finish_reason: Optional[str] = None


def generate_step(prompt, model, *, max_tokens=256, sampler=None, prompt_cache=None, prefill_step_size=2048, **kwargs):
    from .models.cache import make_prompt_cache

    cache = prompt_cache if prompt_cache is not None else make_prompt_cache(model)
    delay = float(os.environ.get("FAKE_MLX_TOKEN_DELAY_MS", "1")) / 1000
    eos_after = int(os.environ.get("FAKE_MLX_EOS_AFTER", "0") or 0)
    y = list(prompt)
    if 7 in y:  # BEL in the prompt: simulate a hard worker crash (tests of the supervisor's restart)
        os._exit(9)
    while len(y) > prefill_step_size:
        model(y[:prefill_step_size], cache)
        y = y[prefill_step_size:]

    produced = [0]

    def _step(inp):
        tok = model(inp, cache)
        produced[0] += 1
        if eos_after and produced[0] > eos_after:
            tok = EOS
        if delay:
            time.sleep(delay)
        return tok

    y = _step(y)
    n = 0
    while True:
        if n != max_tokens:
            next_y = _step([y])
        if n == max_tokens:
            break
        yield y, None
        y = next_y
        n += 1


def stream_generate(model, tokenizer, prompt, **kwargs):
    if isinstance(prompt, str):
        prompt = tokenizer.encode(prompt)
    max_tokens = kwargs.get("max_tokens", 256)
    detok = tokenizer.detokenizer
    detok.reset()
    tic = time.perf_counter()
    token, n = None, 0
    for n, (token, logprobs) in enumerate(generate_step(prompt, model, **kwargs)):
        if token in tokenizer.eos_token_ids:
            break
        detok.add_token(token)
        if (n + 1) == max_tokens:
            break
        yield GenerationResponse(detok.last_segment, token, None, False, len(prompt), 0.0, n + 1, 0.0, 0.0, None)
    detok.finalize()
    yield GenerationResponse(
        detok.last_segment, token, None, False, len(prompt), 0.0, n + 1, 0.0, 0.0,
        "stop" if token in tokenizer.eos_token_ids else "length",
    )

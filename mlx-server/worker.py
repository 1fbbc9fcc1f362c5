"""trace MLX worker: one mlx-lm model behind a stdio JSON-lines protocol (spoken by src/mlx/worker-client.ts).

Requests, one JSON object per line on stdin: {"id": N, "op": ..., ...}
  info                      -> model facts (model_id, context_size, kv_bytes_per_token, stop_tokens, chat_template, bos_token, eos_token)
  tokenize {text}           -> {tokens}
  detokenize {tokens}       -> {text}
  generate {tokens, max_tokens, temperature, top_p, seed, src, dst, keep, copy, evict}
       streams {"id", "event": "prefill", "cached"} then {"id", "event": "token", "token", "text"} per token,
       then {"id", "ok": true, "result": {finish_reason, tail, held, cached}}
  cancel {target}           -> stops the generate request `target` (handled at once by the reader thread)
  stats                     -> {entries: {cache_id: tokens held}}
  shutdown                  -> exits
Errors: {"id", "ok": false, "error"}.

Prompt-cache decisions (which cached prefix to reuse, how much to keep, what to evict) are made by the TS trie
(src/serve/prompt-cache.ts); this worker only executes them on real mlx-lm prompt caches: optionally copy the
source cache, trim it to `keep` tokens (trim_prompt_cache), evaluate only the remaining suffix through
stream_generate(prompt_cache=...), and report how many tokens the cache now holds (`held`).
"""
import copy
import json
import os
import queue
import sys
import threading
import time

from mlx_lm import load, stream_generate
from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache
from mlx_lm.sample_utils import make_sampler

_out_lock = threading.Lock()


def send(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def cache_offset(cache):
    return int(getattr(cache[0], "offset", 0)) if cache else 0


def model_facts(model, tokenizer, model_path):
    args = getattr(model, "args", None)
    get = lambda *names, default=None: next((getattr(args, n) for n in names if getattr(args, n, None) is not None), default)
    layers = get("num_hidden_layers", "n_layers", default=len(getattr(model, "layers", [])) or 1)
    hidden = get("hidden_size", "dim", default=0)
    heads = get("num_attention_heads", "n_heads", default=1)
    kv_heads = get("num_key_value_heads", "n_kv_heads", default=heads)
    head_dim = get("head_dim", default=(hidden // heads if hidden else 128))
    stop = sorted(int(t) for t in (getattr(tokenizer, "eos_token_ids", None) or []))
    return {
        "model_id": os.path.basename(os.path.normpath(model_path)),
        "context_size": int(get("max_position_embeddings", "max_seq_len", default=32768)),
        # K and V, fp16/bf16 (2 bytes)
        "kv_bytes_per_token": int(layers * kv_heads * head_dim * 2 * 2),
        "stop_tokens": stop,
        "chat_template": getattr(tokenizer, "chat_template", None),
        # texts the chat template renders as bos_token / eos_token
        "bos_token": getattr(tokenizer, "bos_token", None),
        "eos_token": getattr(tokenizer, "eos_token", None),
    }


class Worker:
    def __init__(self, model_path):
        self.model_path = model_path
        self.model, self.tokenizer = load(model_path)
        self.caches = {}
        self.cancelled = set()

    def generate(self, rid, req):
        for cid in req.get("evict") or []:
            self.caches.pop(cid, None)
        tokens = [int(t) for t in req["tokens"]]
        if not tokens:
            raise ValueError("empty prompt")
        src, dst = req.get("src"), req.get("dst")
        keep = max(0, min(int(req.get("keep") or 0), len(tokens) - 1))  # the last prompt token is always evaluated
        cache = None
        if src is not None and src in self.caches:
            cache = copy.deepcopy(self.caches[src]) if req.get("copy") else self.caches.pop(src)
            excess = cache_offset(cache) - keep
            if excess > 0:
                if can_trim_prompt_cache(cache):
                    trim_prompt_cache(cache, excess)
                else:
                    cache = None
        if cache is None:
            cache = make_prompt_cache(self.model)
        cached = cache_offset(cache)
        send({"id": rid, "event": "prefill", "cached": cached})
        kwargs = {"max_tokens": int(req["max_tokens"]), "prompt_cache": cache}
        temp = float(req.get("temperature") or 0.0)
        kwargs["sampler"] = make_sampler(temp=temp, top_p=float(req.get("top_p") or 0.0))
        if req.get("seed") is not None:
            try:
                import mlx.core as mx

                mx.random.seed(int(req["seed"]))
            except ImportError:
                pass
        generated = []
        finish, tail, last = "length", "", None
        for r in stream_generate(self.model, self.tokenizer, tokens[cached:], **kwargs):
            if rid in self.cancelled:
                finish = "aborted"
                break
            if r.finish_reason is None:
                generated.append(int(r.token))
                send({"id": rid, "event": "token", "token": int(r.token), "text": r.text})
                continue
            finish, last = r.finish_reason, int(r.token)
            if finish == "length" and r.generation_tokens > len(generated):
                # newer mlx-lm: the last token arrives only in the final response
                generated.append(last)
                send({"id": rid, "event": "token", "token": last, "text": r.text})
            else:
                tail = r.text
        self.cancelled.discard(rid)
        # what the cache now holds: prompt + every token fed back (maybe the EOS); drop anything unknown
        known = tokens + generated + ([last] if finish == "stop" and last is not None else [])
        held = cache_offset(cache)
        if held > len(known):
            trim_prompt_cache(cache, held - len(known))
            held = len(known)
        if dst is not None:
            self.caches[dst] = cache
        return {"finish_reason": finish, "tail": tail, "held": held, "cached": cached}

    def handle(self, msg):
        op, rid = msg.get("op"), msg.get("id")
        if op == "info":
            return model_facts(self.model, self.tokenizer, self.model_path)
        if op == "tokenize":
            return {"tokens": [int(t) for t in self.tokenizer.encode(msg["text"], add_special_tokens=False)]}
        if op == "detokenize":
            return {"text": self.tokenizer.decode([int(t) for t in msg["tokens"]])}
        if op == "generate":
            return self.generate(rid, msg)
        if op == "drop":
            for cid in msg.get("ids") or []:
                self.caches.pop(cid, None)
            return {"entries": len(self.caches)}
        if op == "stats":
            return {"entries": {cid: cache_offset(c) for cid, c in self.caches.items()}}
        raise ValueError(f"unknown op {op!r}")


def main():
    model_path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TRACE_MLX_MODEL", "")
    try:
        worker = Worker(model_path)
    except Exception as e:  # noqa: BLE001 - reported to the supervisor, which decides
        send({"id": 0, "ok": False, "error": f"load failed: {type(e).__name__}: {e}", "fatal": True})
        return 3
    inbox = queue.Queue()

    def reader():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except json.JSONDecodeError as e:
                send({"id": None, "ok": False, "error": f"bad json: {e}"})
                continue
            if msg.get("op") == "cancel":
                worker.cancelled.add(msg.get("target"))
                continue
            inbox.put(msg)
        inbox.put(None)

    threading.Thread(target=reader, daemon=True).start()
    send({"id": 0, "ok": True, "result": {"ready": True}})
    while True:
        msg = inbox.get()
        if msg is None or msg.get("op") == "shutdown":
            if msg is not None:
                send({"id": msg.get("id"), "ok": True, "result": {}})
            return 0
        try:
            send({"id": msg.get("id"), "ok": True, "result": worker.handle(msg)})
        except Exception as e:  # noqa: BLE001 - per-request failure is data for the client
            worker.cancelled.discard(msg.get("id"))
            send({"id": msg.get("id"), "ok": False, "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    sys.exit(main())

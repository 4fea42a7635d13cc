"""CPU time of the client JWT replay check: the shared table against the old in-memory cache.

Every authenticated call checks its ``jti`` once (`cds.service.replay`). This
prints the median process CPU time per check, in microseconds, over rounds of
many checks, for

* **new jti**: a jti not seen before (lookup, then insert: every accepted call);
* **replayed jti**: a jti already remembered (lookup only: a refused replay);

in the shared `ReplayTable` (a mapped file, ``flock`` and a thread lock) and
in the per-process ``ReplayCache`` (an OrderedDict) of the baseline revision,
loaded from git (``--baseline``, default ``main``) into this process. Both are
sized for ``--entries`` tokens and hold a quarter of that before the rounds;
all rounds together add at most half as many again, so neither should drop
entries (the warnings about dropped entries are counted and printed). Rounds
of the two alternate, so both see the same machine load. For scale it then
prints the CPU time of a whole ``ClientAuthenticator.authenticate`` call with
an ES384 token (signature check included), new and baseline, alternating too.

    PYTHONPATH=src python bench/bench_replay.py [--rounds 20] [--checks 2500] [--baseline main]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds.service import auth
from cds.service.replay import ReplayTable
from cds.service.settings import AuthSettings

ROOT = Path(__file__).resolve().parents[1]
ISS = "https://arena.sykehuset-innlandet.example"
URL = "http://testserver/cds-services/discharge-pathway"


class Count(logging.Handler):
    """Counts the warnings instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def baseline_auth(revision: str, workdir: Path) -> Any:
    """The baseline revision's ``cds.service.auth`` module, loaded from git under another name."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:src/cds/service/auth.py"],
                            check=True, capture_output=True, text=True).stdout
    path = workdir / "auth_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("auth_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def per_check_us(check: Callable[[str], bool], jtis: list[str]) -> float:
    start = time.process_time()
    for jti in jtis:
        check(jti)
    return (time.process_time() - start) / len(jtis) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--checks", type=int, default=2500, help="checks per round and case")
    parser.add_argument("--entries", type=int, default=100_000, help="auth.jti_cache_size (default: the default)")
    parser.add_argument("--calls", type=int, default=300, help="authenticate() calls per round and variant")
    parser.add_argument("--baseline", default="main")
    args = parser.parse_args()
    if args.rounds * args.checks > args.entries // 2:
        parser.error("--rounds x --checks must stay within half of --entries (neither may fill up)")
    expires = time.time() + 3600
    dropped = Count()
    logging.getLogger().addHandler(dropped)
    logging.getLogger().setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_auth(args.baseline, Path(tmp))
        table = ReplayTable(Path(tmp) / "jti-replay.bin", args.entries)
        cache = old.ReplayCache(args.entries)
        for i in range(args.entries // 4):
            table.seen(ISS, f"fill-{i}", expires)
            cache.seen(ISS, f"fill-{i}", expires)
        remembered = [f"fill-{i}" for i in range(args.checks)]
        figures: dict[str, list[float]] = {f"{where} {case}": [] for where in ("table", "cache")
                                           for case in ("new", "replayed")}
        for _ in range(args.rounds):
            fresh = [str(uuid.uuid4()) for _ in range(args.checks)]
            figures["table new"].append(per_check_us(lambda j: table.seen(ISS, j, expires), fresh))
            figures["cache new"].append(per_check_us(lambda j: cache.seen(ISS, j, expires), fresh))
            figures["table replayed"].append(per_check_us(lambda j: table.seen(ISS, j, expires), remembered))
            figures["cache replayed"].append(per_check_us(lambda j: cache.seen(ISS, j, expires), remembered))
        print(f"replay check: median CPU per check over {args.rounds} rounds of {args.checks:,} "
              f"(sized for {args.entries:,} tokens, holding {args.entries // 4:,} to "
              f"{args.entries // 4 + args.rounds * args.checks:,}; table file {table.size / 1e6:.1f} MB)")
        for case in ("new", "replayed"):
            new, base = statistics.median(figures[f"table {case}"]), statistics.median(figures[f"cache {case}"])
            print(f"  {case + ' jti':13s} shared table {new:5.2f} us   in-memory cache (baseline) {base:5.2f} us"
                  f"   difference {new - base:+5.2f} us")
        print(f"  entries dropped because the table or cache was full: {dropped.count}")

        key = ec.generate_private_key(ec.SECP384R1())
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "ec-1"}
        settings = AuthSettings(issuers={ISS: {"jwks": {"keys": [public]}}}, jti_cache_size=args.entries)
        authenticators = {"new": auth.ClientAuthenticator(settings, replay_file=Path(tmp) / "auth-replay.bin"),
                          "baseline": old.ClientAuthenticator(settings)}

        def tokens() -> list[str]:
            iat = int(time.time())
            return [jwt.encode({"iss": ISS, "aud": URL, "iat": iat, "exp": iat + 240, "jti": str(uuid.uuid4())},
                               key, algorithm="ES384", headers={"kid": "ec-1"}) for _ in range(args.calls)]

        async def per_call_us(authenticator: Any, batch: list[str]) -> float:
            start = time.process_time()
            for token in batch:
                await authenticator.authenticate(f"Bearer {token}", URL)
            return (time.process_time() - start) / len(batch) * 1e6

        calls: dict[str, list[float]] = {"new": [], "baseline": []}
        for _ in range(5):
            for variant, authenticator in authenticators.items():
                calls[variant].append(asyncio.run(per_call_us(authenticator, tokens())))
        new, base = statistics.median(calls["new"]), statistics.median(calls["baseline"])
        print(f"whole authenticate() with ES384, median of 5 rounds of {args.calls:,} calls: new {new:,.0f} us, "
              f"baseline {base:,.0f} us (ratio {new / base:4.2f})")


if __name__ == "__main__":
    main()

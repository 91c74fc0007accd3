#!/usr/bin/env python3
"""Median time of one RFC 9474 blind signature: BlindSigner (gmpy2, CRT) vs plain Python pow.

Usage: .venv/bin/python scripts/bench_blind_sign.py [--bits 3072] [--rounds 30]
BlindSigner.sign includes everything the server pays per request: the range checks, base
blinding, two CRT half exponentiations (gmpy2.powmod_sec) and the s^e mod n == m check.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ballots.blindrsa import BlindSigner, generate_private_key  # noqa: E402


def median_ms(work: Callable[[], object], rounds: int) -> float:
    """The median wall time of ``work`` in milliseconds, after one warm-up call."""
    work()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=3072)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    key = generate_private_key(args.bits)
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    signer = BlindSigner(key)
    m = secrets.randbelow(n)
    blinded_msg = m.to_bytes(signer.modulus_length, "big")
    if signer.sign(blinded_msg) != pow(m, d, n).to_bytes(signer.modulus_length, "big"):
        sys.exit("BlindSigner and pow disagree: not benchmarking a wrong result")

    fast = median_ms(lambda: signer.sign(blinded_msg), args.rounds)
    slow = median_ms(lambda: pow(m, d, n), max(5, args.rounds // 3))
    print(f"RSA-{args.bits}, median of {args.rounds} rounds")
    print(f"  BlindSigner.sign (gmpy2 CRT, checked): {fast:8.2f} ms  ({1000 / fast:7.1f}/s)")
    print(f"  plain Python pow(m, d, n):             {slow:8.2f} ms  ({1000 / slow:7.1f}/s)")
    print(f"  ratio: {slow / fast:.1f}x faster")


if __name__ == "__main__":
    main()

"""Coverage-guided fuzzing (atheris, libFuzzer) of the SMPP decoder, the stream reader and the job parser.

Not part of the test suite: tests/test_fuzz.py runs the same properties with hypothesis on every run. This
runs them for longer, guided by coverage of taxsms' code, starting from tests/fuzz_seeds/. A crash prints
the traceback and writes the input to `crash-<sha1>` in the current directory: add it to tests/fuzz_seeds/
(and as an @example in tests/test_fuzz.py).

    pip install atheris
    python bench/fuzz_atheris.py decode [--runs 200000]
    python bench/fuzz_atheris.py job [--runs 200000]
    python bench/fuzz_atheris.py all [--runs 100000]     # each target in turn

Extra arguments after `--` go to libFuzzer (e.g. `-- -max_len=4096 -jobs=2`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["taxsms"]):
    from taxsms.channels.smpp import FramingError, InvalidPduError, PduReader, decode, encode, error_response
    from taxsms.queue.jobs import JobError, encode_job, parse_job

SEEDS = Path(__file__).parents[1] / "tests" / "fuzz_seeds"


def fuzz_decode(data: bytes) -> None:
    """decode() on the bytes as one frame, then PduReader on them cut where the first byte says."""
    try:
        pdu = decode(data)
    except InvalidPduError as err:
        encode(error_response(err))
    except FramingError:
        pass
    else:
        try:
            again = encode(pdu)
        except ValueError as exc:  # the decoder took something the encoder refuses
            raise AssertionError(f"decoded {pdu!r} does not encode: {exc}") from exc
        assert decode(again) == pdu, (pdu, again)
    step = (data[0] % 17 + 1) if data else 1
    reader = PduReader()
    try:
        for start in range(0, len(data), step):
            reader.feed(data[start : start + step])
    except FramingError:
        pass


def fuzz_job(data: bytes) -> None:
    try:
        job = parse_job(data)
    except JobError:
        return
    assert parse_job(encode_job(job)) == job
    job.lane  # noqa: B018 - the lane picks the stream: it must exist for every accepted job
    job.not_before_ts  # noqa: B018
    job.expires_ts  # noqa: B018


TARGETS = {"decode": (fuzz_decode, "pdu"), "job": (fuzz_job, "job")}


def run(target: str, runs: int, extra: list[str]) -> None:
    test, seeds = TARGETS[target]
    with tempfile.TemporaryDirectory() as corpus:  # libFuzzer grows the corpus here; the seeds stay read-only
        argv = [sys.argv[0], corpus, str(SEEDS / seeds), f"-runs={runs}", "-max_len=2048", *extra]
        atheris.Setup(argv, test)
        atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument("--runs", type=int, default=200_000)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.target != "all":
        run(args.target, args.runs, extra)  # atheris.Fuzz() exits the process when done
        return
    failed = 0
    for target in TARGETS:  # one process each: libFuzzer runs once per process
        print(f"== {target}", flush=True)
        failed |= subprocess.call([sys.executable, __file__, target, "--runs", str(args.runs), *extra])
    sys.exit(failed)


if __name__ == "__main__":
    main()

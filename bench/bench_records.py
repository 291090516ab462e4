"""Records benchmark: rendering vs sealing cost, throughput on 2 workers, memory per worker.

    .venv/bin/python bench/bench_records.py [--n 20] [--records 500] [--max-tasks-per-child N]

Prints each figure next to its target:
* sealing adds at most 25 % to the rendering time (median of --n runs);
* records per minute with a process pool of 2 workers (the production set-up:
  one Sealer per worker process, built once);
* peak RSS per worker over --records records, and its growth after warm-up
  (target: flat, i.e. under 10 % growth).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reports.context import Kind, Locale, RecordContext
from reports.pki import ensure_local_pki
from reports.render import render_pdf
from reports.samples import sample_context
from reports.seal import Sealer

SEAL_ARGS = {"reason": "Samtycke record", "location": "Sweden"}
KINDS: list[Kind] = ["consent_given", "consent_withdrawn", "consent_refused", "addendum_signed"]
LOCALES: list[Locale] = ["sv", "nb", "en"]
SEALING_TARGET = 0.25
MEMORY_GROWTH_TARGET = 0.10
WARM_UP_TASKS = 20

_sealer: Sealer | None = None


def _context(i: int) -> RecordContext:
    return sample_context(KINDS[i % len(KINDS)], LOCALES[i % len(LOCALES)], record_id=f"bench-{i:06d}")


def _rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc (no psutil)."""
    current = peak = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _init_worker(pki_dir: str) -> None:
    global _sealer
    _sealer = Sealer.from_local_pki(ensure_local_pki(Path(pki_dir), "https://samtycke.bench"))


def _produce(i: int) -> tuple[int, int, int, float]:
    assert _sealer is not None
    start = time.perf_counter()
    _sealer.seal(render_pdf(_context(i)), **SEAL_ARGS)
    current, peak = _rss_kib()
    return os.getpid(), current, peak, time.perf_counter() - start


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def single_process(pki_dir: Path, n: int) -> tuple[float, float, float]:
    sealer = Sealer.from_local_pki(ensure_local_pki(pki_dir, "https://samtycke.bench"))
    ctx = _context(0)
    sealer.seal(render_pdf(ctx), **SEAL_ARGS)  # warm caches: fonts, templates, TSA size estimate
    render_times, seal_times, total_times = [], [], []
    for i in range(n):
        ctx = _context(i)
        start = time.perf_counter()
        pdf = render_pdf(ctx)
        rendered = time.perf_counter()
        sealer.seal(pdf, **SEAL_ARGS)
        done = time.perf_counter()
        render_times.append(rendered - start)
        seal_times.append(done - rendered)
        total_times.append(done - start)
    return _median(render_times), _median(seal_times), _median(total_times)


def pool(pki_dir: Path, records: int, max_tasks: int | None) -> tuple[float, dict[int, list[tuple[int, int]]]]:
    # "spawn": a clean interpreter per worker, as under a process manager, and
    # the only start method that allows recycling workers (max_tasks_per_child).
    context = multiprocessing.get_context("spawn")
    per_worker: dict[int, list[tuple[int, int]]] = defaultdict(list)
    with ProcessPoolExecutor(
        max_workers=2,
        mp_context=context,
        initializer=_init_worker,
        initargs=(str(pki_dir),),
        max_tasks_per_child=max_tasks,
    ) as executor:
        list(executor.map(_produce, range(4)))  # start both workers before timing
        start = time.perf_counter()
        for pid, current, peak, _seconds in executor.map(_produce, range(records), chunksize=1):
            per_worker[pid].append((current, peak))
        elapsed = time.perf_counter() - start
    return records / elapsed * 60, per_worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="runs per median (default 20)")
    parser.add_argument("--records", type=int, default=500, help="records through the 2-worker pool (default 500)")
    parser.add_argument("--max-tasks-per-child", type=int, default=None, help="recycle pool workers after N records")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="samtycke-bench-") as tmp:
        pki_dir = Path(tmp) / "pki"
        ensure_local_pki(pki_dir, "https://samtycke.bench")
        render_s, seal_s, total_s = single_process(pki_dir, args.n)
        overhead = seal_s / render_s
        print(f"records benchmark (WeasyPrint render → PAdES B-LTA seal, local PKI), n={args.n}, cpus={os.cpu_count()}")
        print(f"  median render only        {render_s * 1000:8.1f} ms")
        print(f"  median seal only          {seal_s * 1000:8.1f} ms")
        print(f"  median render + seal      {total_s * 1000:8.1f} ms")
        verdict = "OK" if overhead <= SEALING_TARGET else "OVER TARGET"
        print(f"  sealing overhead          {overhead * 100:8.1f} %   target ≤ {SEALING_TARGET * 100:.0f} %  {verdict}")

        per_minute, per_worker = pool(pki_dir, args.records, args.max_tasks_per_child)
        recycled = f", workers recycled every {args.max_tasks_per_child}" if args.max_tasks_per_child else ""
        print(f"  2-worker pool             {per_minute:8.0f} records/minute over {args.records} records{recycled}")
        for number, (pid, samples) in enumerate(sorted(per_worker.items()), start=1):
            peak_mib = max(p for _c, p in samples) / 1024
            settled = samples[min(WARM_UP_TASKS, len(samples) - 1)][0]
            last = samples[-1][0]
            growth = (last - settled) / settled if settled else 0.0
            verdict = "OK" if growth <= MEMORY_GROWTH_TARGET else "GROWING"
            print(
                f"  worker {number} (pid {pid}, {len(samples)} records)  peak RSS {peak_mib:6.1f} MiB, "
                f"RSS after warm-up {settled / 1024:6.1f} → end {last / 1024:6.1f} MiB "
                f"({growth * 100:+.1f} %)   target: flat (≤ {MEMORY_GROWTH_TARGET * 100:.0f} %)  {verdict}"
            )


if __name__ == "__main__":
    main()

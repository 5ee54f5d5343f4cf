"""Benchmark `baomi bench scan`: sensitive-data detection throughput.

Measures, in one process so the ratios are fair on a noisy machine:
- `detect()` over generated Chinese business text (contracts, payroll, statements, forms,
  invoices from the labelled test corpus) beside a bare `re.finditer(r"\\d{11,19}")` pass
  over the same string: the ratio is detect's speed relative to that floor;
- `scan_file()` end to end on the same text written as a UTF-8 file (decode, windows,
  keywords, suggestion);
- `scan_file()` on a generated XLSX payroll workbook (openpyxl streaming reader).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from baomi.detect import detect, scan_file

_BARE = re.compile(r"\d{11,19}")


def _best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of `repeat` runs: the least disturbed by other load."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def make_text(megabytes: float, seed: int = 1, *, prose: int = 0) -> str:
    """Chinese business documents from the test corpus until `megabytes` of UTF-8.

    The corpus documents are nearly all identifiers (one per ~100 bytes); `prose` adds
    that many paragraphs of contract clauses after each document, closer to real files.
    """
    import random

    from baomi.detect.tests.corpus import FILLER, generate

    rng = random.Random(seed)
    docs = generate(seed, 600)
    unit = "\n".join(
        d.text + "".join(rng.choice(FILLER) + "\n" for _ in range(prose)) for d in docs
    )
    size = len(unit.encode())
    return unit * max(1, round(megabytes * 1e6 / size))


def make_xlsx(path: Path, megabytes: float, seed: int = 1) -> int:
    """A payroll workbook of about `megabytes`; returns the number of data rows."""
    import openpyxl

    from baomi.detect.tests.corpus import Gen

    gen = Gen(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("工资表")
    ws.append(["序号", "姓名", "身份证号", "手机号", "开户行", "工资卡号", "实发工资", "备注"])
    # Roughly 75 bytes of compressed XLSX per row of this shape.
    rows = int(megabytes * 1e6 / 75)
    pool = [(gen.name(), gen.resident_id(), int(gen.mobile()), gen.card()) for _ in range(2000)]
    for i in range(rows):
        name, rid, mobile, card = pool[i % len(pool)]
        ws.append([i + 1, name, rid, mobile, "中国建设银行", card, 5000 + i % 9000, "正常"])
    wb.save(path)
    return rows


def _best_interleaved(
    fns: list[Callable[[], object]], repeat: int
) -> tuple[list[float], list[float]]:
    """Best wall time and best CPU time of each function over `repeat` rounds that run
    them in turn.

    Interleaved rounds see the same load, so a burst from other processes on a shared
    machine slows both sides of a ratio instead of one of them. The CPU time (this
    process's user + system time) leaves out the time the process waited for a core: on a
    machine with more runnable processes than cores, a long run is descheduled more often
    than a short one, which biases a wall-time ratio against the longer side.
    """
    wall = [float("inf")] * len(fns)
    cpu = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            wall[i] = min(wall[i], time.perf_counter() - t0)
            cpu[i] = min(cpu[i], time.process_time() - c0)
    return wall, cpu


def _text_figures(text: str, repeat: int, name: str) -> dict[str, object]:
    nbytes = len(text.encode())
    # The generated corpus is a large heap of long-lived objects; freezing it keeps the
    # collector's full passes (triggered by the findings' allocations) from timing it.
    gc.collect()
    gc.freeze()
    (bare_s, detect_s), (bare_cpu, detect_cpu) = _best_interleaved(
        [lambda: sum(1 for _ in _BARE.finditer(text)), lambda: detect(text)], repeat
    )
    return {
        f"{name}_mb": round(nbytes / 1e6, 2),
        f"{name}_findings": len(detect(text)),
        f"{name}_bare_regex_mb_s": round(nbytes / 1e6 / bare_s, 1),
        f"{name}_detect_mb_s": round(nbytes / 1e6 / detect_s, 1),
        f"{name}_detect_vs_bare_ratio": round(bare_s / detect_s, 3),
        # The same runs in CPU time: the fairer ratio on a loaded, shared machine.
        f"{name}_detect_vs_bare_ratio_cpu": round(bare_cpu / detect_cpu, 3),
    }


def run(*, text_mb: float = 20.0, xlsx_mb: float = 20.0, repeat: int = 5) -> dict[str, object]:
    """Run the benchmark; returns figures in MB/s (10^6 bytes of UTF-8 or file per second)
    of wall time, and the text ratios also in CPU time (`*_ratio_cpu`).

    "dense" is the labelled corpus as is; "prose" adds 20 clause paragraphs per document.
    """
    out = _text_figures(make_text(text_mb, prose=20), repeat, "prose")
    text = make_text(text_mb)
    nbytes = len(text.encode())
    out.update(_text_figures(text, repeat, "dense"))
    with tempfile.TemporaryDirectory() as tmp:
        txt = Path(tmp, "corpus.txt")
        txt.write_text(text, encoding="utf-8")
        file_s = _best(lambda: scan_file(txt), 1)
        out["scan_text_file_mb_s"] = round(nbytes / 1e6 / file_s, 1)
        if xlsx_mb > 0:
            xlsx = Path(tmp, "payroll.xlsx")
            rows = make_xlsx(xlsx, xlsx_mb)
            size = xlsx.stat().st_size
            t0 = time.perf_counter()
            result = scan_file(xlsx)
            xlsx_s = time.perf_counter() - t0
            out.update(
                xlsx_mb=round(size / 1e6, 2),
                xlsx_rows=rows,
                xlsx_findings=len(result.findings),
                xlsx_error=result.error,
                scan_xlsx_mb_s=round(size / 1e6 / xlsx_s, 2),
                scan_xlsx_rows_s=round(rows / xlsx_s),
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """`baomi bench scan [--json] [--text-mb N] [--xlsx-mb N]`."""
    parser = argparse.ArgumentParser(prog="baomi bench scan")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--text-mb", type=float, default=20.0)
    parser.add_argument("--xlsx-mb", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=5)
    try:
        args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    figures = run(text_mb=args.text_mb, xlsx_mb=args.xlsx_mb, repeat=args.repeat)
    if args.json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    else:
        for key, value in figures.items():
            sys.stdout.write(f"{key:<24} {value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

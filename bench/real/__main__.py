"""Real-content benchmark: engines and baselines on SVG art, real PSDs and photo composites.

Usage::

    python -m bench.real --set all --psd-source DIR ... --split all [--limit N] [--jobs N] \\
        --methods classic single kmeans --layers gt --out docs/benchmarks/real.md

Sets are built once and cached under ``--cache`` (``~/.cache/lamina-bench``);
every method is scored with :func:`bench.layerd_eval.evaluate` (0-2 merges)
and the Markdown report (per set and kind, ratio to k-means, median runtime)
goes to ``--out``, with one row per sample and method in ``--out`` ``.csv``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bench.baselines import single_layer
from bench.layerd_eval import EditScores, evaluate, mean_scores
from bench.quality import BASELINES, Method, build_methods
from bench.real.common import RealSample, default_cache
from bench.real.sets import SETS, load, load_log
from lamina.errors import LaminaError
from lamina.types import MAX_LAYERS

DEFAULT_OUT = Path("docs/benchmarks/real.md")
MAX_EDITS = 2


@dataclass
class Result:
    """One method on one sample."""

    sample: RealSample
    method: str
    k: int
    predicted: int
    seconds: float
    scores: list[EditScores]
    failure: str = ""


def run(
    method_names: Sequence[str],
    samples: Sequence[RealSample],
    layers: str,
    *,
    jobs: int = 1,
    progress: bool = True,
) -> list[Result]:
    """Every method on every sample, in ``jobs`` processes; results keep the samples' order.

    A :class:`LaminaError` scores as the input as one layer. With ``jobs > 1``
    the runtimes are measured under each other's load: compare them only
    within one run.
    """
    tasks = [(sample, layers) for sample in samples]
    if jobs == 1:
        _init_worker(method_names)
        done = map(_score_sample, tasks)
        return [
            r
            for rows in tqdm(done, total=len(tasks), disable=not progress, file=sys.stderr)
            for r in rows
        ]
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(method_names,)) as pool:
        done = pool.map(_score_sample, tasks)
        return [
            r
            for rows in tqdm(done, total=len(tasks), disable=not progress, file=sys.stderr)
            for r in rows
        ]


_methods: dict[str, Method] = {}


def _init_worker(method_names: Sequence[str]) -> None:
    """Build (and warm up) the methods once per process."""
    _methods.clear()
    _methods.update(build_methods(method_names))


def _score_sample(task: tuple[RealSample, str]) -> list[Result]:
    sample, layers = task
    k = min(len(sample.layers), MAX_LAYERS) if layers == "gt" else int(layers)
    results = []
    for name, method in _methods.items():
        failure = ""
        start = time.perf_counter()
        try:
            out = method(sample.image.copy(), k)
        except LaminaError as exc:
            failure = str(exc)
            out = single_layer(sample.image)
        seconds = time.perf_counter() - start
        scores = evaluate(out, sample.layers, max_edits=MAX_EDITS)
        results.append(Result(sample, name, k, len(out), seconds, scores, failure))
    return results


def _means(results: Sequence[Result]) -> list[EditScores]:
    return mean_scores([r.scores for r in results])


def _kind_table(rows: Sequence[Result], methods: Sequence[str]) -> list[str]:
    """Per kind, then all: each method's IoU and L1 at 0..2 merges and its cost over k-means'."""
    out = ["| kind (n) | method | IoU 0/1/2 | L1 0/1/2 | cost /km |", "|---|---|---|---|---:|"]
    kinds = sorted({r.sample.kind for r in rows})
    for kind in [*kinds, "all"] if len(kinds) > 1 else kinds:
        group = [r for r in rows if kind in ("all", r.sample.kind)]
        n = len({r.sample.name for r in group})
        km = [r for r in group if r.method == "kmeans"]
        km_cost = _means(km)[0].cost if km else float("nan")
        for m in methods:
            mean = _means([r for r in group if r.method == m])
            iou = " / ".join(f"{e.alpha_iou:.3f}" for e in mean)
            l1 = " / ".join(f"{e.rgb_l1:.3f}" for e in mean)
            label = f"**{kind}** ({n})" if kind == "all" else f"{kind} ({n})"
            out.append(f"| {label} | {m} | {iou} | {l1} | {mean[0].cost / km_cost:.2f} |")
    return out


def render_report(
    results: Sequence[Result], *, command: str, logs: dict[str, dict[str, str]]
) -> str:
    """Markdown: per set, a runtime table and per-kind soft IoU / RGB L1 at 0..2 merges."""
    methods = list(dict.fromkeys(r.method for r in results))
    lines = [
        "# Real-content benchmark: LayerD protocol on SVG art, PSDs and photo composites",
        "",
        f"Reproduce: `{command}` (1 process, CPU, timings on a shared 2-core machine).",
        "",
        "Soft IoU ↑ and RGB L1 ↓ at 0 / 1 / 2 allowed merges (`bench/layerd_eval.py`);",
        "`/km` is the method's 0-merge DTW cost over k-means' (lower is better). Per-sample",
        "rows are in the CSV beside this file.",
        "",
    ]
    by_set: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_set[r.sample.set].append(r)
    for set_name, rows in by_set.items():
        names = {r.sample.name for r in rows}
        splits = [s for s in ("tune", "heldout") if any(r.sample.split == s for r in rows)]
        lines += [f"## {set_name} ({len(names)} images, split: {', '.join(splits)})", ""]
        lines += ["| method | median s/image | failures |", "|---|---:|---:|"]
        for m in methods:
            mine = [r for r in rows if r.method == m]
            fails = sum(1 for r in mine if r.failure)
            lines.append(f"| {m} | {statistics.median(r.seconds for r in mine):.3f} | {fails} |")
        for split in [*splits, "all"] if len(splits) > 1 else splits:
            part = [r for r in rows if split in ("all", r.sample.split)]
            lines += ["", f"### {split} ({len({r.sample.name for r in part})} images)", ""]
            lines += _kind_table(part, methods)
        worst = sorted(
            (r for r in rows if r.method not in BASELINES), key=lambda r: -r.scores[0].cost
        )[:5]
        if worst:
            lines += [
                "",
                "Worst engine samples (0-merge cost): "
                + ", ".join(
                    f"`{r.sample.name}` ({r.method}, IoU {r.scores[0].alpha_iou:.2f})"
                    for r in worst
                ),
            ]
        log = logs.get(set_name, {})
        if log:
            kept = sum(1 for v in log.values() if v.startswith("kept"))
            lines += [
                "",
                f"Build log: {kept} kept of {len(log)} considered; the reasons are in "
                f"the set's `manifest.json` under the cache.",
            ]
        lines.append("")
    return "\n".join(lines)


def write_csv(results: Sequence[Result], path: Path) -> None:
    """One row per (sample, method): the scores at each merge count and the runtime."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "set",
                "kind",
                "split",
                "name",
                "method",
                "gt_layers",
                "k",
                "predicted",
                "seconds",
                *(f"{m}{e}" for e in range(MAX_EDITS + 1) for m in ("iou", "l1", "cost")),
                "failure",
            ]
        )
        for r in results:
            s = r.sample
            w.writerow(
                [
                    s.set,
                    s.kind,
                    s.split,
                    s.name,
                    r.method,
                    len(s.layers),
                    r.k,
                    r.predicted,
                    f"{r.seconds:.3f}",
                    *(f"{v:.4f}" for e in r.scores for v in (e.alpha_iou, e.rgb_l1, e.cost)),
                    r.failure,
                ]
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.real",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", choices=[*SETS, "all"], default="all")
    parser.add_argument(
        "--psd-source",
        type=Path,
        nargs="+",
        default=[],
        help="folders searched for *.psd (needed to build the psd set)",
    )
    parser.add_argument("--split", choices=["tune", "heldout", "all"], default="all")
    parser.add_argument("--methods", nargs="+", default=["classic", *BASELINES])
    parser.add_argument("--layers", default="gt", help="'gt' or a fixed layer count")
    parser.add_argument("--limit", type=int, help="at most N images per set")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes (default 1: timings are per image, so run alone to compare)",
    )
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument("--rebuild", action="store_true", help="rebuild the sets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.layers != "gt" and not args.layers.isdigit():
        parser.error("--layers takes 'gt' or an integer")
    names = SETS if args.set == "all" else (args.set,)
    if args.set == "all" and not args.psd_source:
        names = tuple(n for n in names if n != "psd")
        print("no --psd-source: skipping the psd set", file=sys.stderr)
    samples: list[RealSample] = []
    logs: dict[str, dict[str, str]] = {}
    for name in names:
        chosen = [
            s
            for s in load(name, args.cache, args.psd_source, rebuild=args.rebuild)
            if args.split in ("all", s.split)
        ]
        samples += chosen[: args.limit]
        logs[name] = load_log(args.cache / "sets" / name)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    try:
        results = run(args.methods, samples, args.layers, jobs=args.jobs, progress=not args.quiet)
    except LaminaError as exc:  # an unknown engine name, from build_methods
        parser.error(str(exc))
    command = "python -m bench.real " + " ".join(sys.argv[1:] if argv is None else list(argv))
    report = render_report(results, command=command.strip(), logs=logs)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    write_csv(results, args.out.with_suffix(".csv"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

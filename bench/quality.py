"""Quality benchmark: engines and baselines on synthetic designs, scored with the LayerD protocol.

Usage::

    python -m bench.quality --n 60 --size 512 --layers gt 4

Every method sees the same generated designs (:mod:`bench.synth`); each
decomposition is scored with :func:`bench.layerd_eval.evaluate` at 0..5
allowed merges, and the Markdown report (overall, per category, per-image
median runtime) is printed and written to ``--out``. ``--layers gt`` asks
each method for as many layers as the design truly has; an integer asks for
that many on every design.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from bench.baselines import kmeans_layers, single_layer
from bench.layerd_eval import EditScores, evaluate, mean_scores
from bench.synth import CATEGORIES, dataset, sample_name, save_sample, write_layers
from lamina.engines import Engine, get_engine
from lamina.errors import LaminaError
from lamina.types import DecomposeParams

RGBA = NDArray[np.uint8]
Method = Callable[[RGBA, int], list[RGBA]]
BASELINES = ("single", "kmeans")
DEFAULT_OUT = Path("docs/benchmarks/quality.md")
_OWN = ("synth", "layerd_eval", "baselines", "quality")


@dataclass
class Run:
    """Everything measured for one method at one layer-count setting."""

    scores: dict[str, list[list[EditScores]]] = field(default_factory=lambda: defaultdict(list))
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def all_scores(self) -> list[list[EditScores]]:
        return [r for per_category in self.scores.values() for r in per_category]


def build_methods(names: Sequence[str]) -> dict[str, Method]:
    """Name -> ``(image, num_layers) -> layers``; engine names go through ``get_engine``."""
    methods: dict[str, Method] = {}
    for name in names:
        if name == "single":
            methods[name] = lambda image, _k: single_layer(image)
        elif name == "kmeans":
            methods[name] = lambda image, k: kmeans_layers(image, k)
        else:
            engine = get_engine(name)
            engine.warm_up()
            methods[name] = _engine_method(engine)
    return methods


def _engine_method(engine: Engine) -> Method:
    def run(image: RGBA, k: int) -> list[RGBA]:
        stack = engine.decompose(image, DecomposeParams(num_layers=k))
        return [layer.rgba for layer in stack.layers]

    return run


def run_benchmark(
    methods: dict[str, Method],
    *,
    n: int,
    size: int,
    seed: int,
    layer_settings: Sequence[str],
    max_edits: int = 5,
    progress: bool = True,
    save_dir: Path | None = None,
) -> tuple[dict[tuple[str, str], Run], list[int]]:
    """Score every method on the same ``n`` designs for each setting.

    Returns ``{(setting, method): Run}`` and the ground-truth layer counts.
    A method that raises a :class:`~lamina.errors.LaminaError` on a design is
    scored as if it had returned the input as one layer, and the failure is
    recorded. With ``save_dir``, each design, its truth and every method's layers are
    written there as PNG folders for inspection.
    """
    runs: dict[tuple[str, str], Run] = defaultdict(Run)
    gt_counts: list[int] = []
    samples = dataset(n, seed=seed, size=(size, size))
    for index, sample in enumerate(tqdm(samples, total=n, disable=not progress, file=sys.stderr)):
        gt_counts.append(sample.num_layers)
        folder = save_dir / sample_name(index, sample) if save_dir is not None else None
        if folder is not None:
            save_sample(sample, folder)
        truth = list(sample.layers)
        for setting in layer_settings:
            k = sample.num_layers if setting == "gt" else int(setting)
            for name, method in methods.items():
                run = runs[(setting, name)]
                start = time.perf_counter()
                try:
                    layers = method(sample.image.copy(), k)
                except LaminaError as exc:
                    run.failures.append(f"{sample.category}#{sample.seed}: {exc}")
                    layers = single_layer(sample.image)
                run.seconds.append(time.perf_counter() - start)
                if folder is not None:
                    write_layers(layers, folder / f"{name}-{setting}")
                run.scores[sample.category].append(evaluate(layers, truth, max_edits=max_edits))
    return runs, gt_counts


def render_report(
    runs: dict[tuple[str, str], Run],
    gt_counts: Sequence[int],
    *,
    command: str,
    n: int,
    size: int,
    seed: int = 0,
) -> str:
    """The Markdown report: reproduction command, protocol, tables per setting."""
    settings = list(dict.fromkeys(s for s, _ in runs))
    methods = list(dict.fromkeys(m for _, m in runs))
    lines = [
        "# Quality benchmark: LayerD protocol on synthetic designs",
        "",
        f"Reproduce: `{command}` (commit `{_git_revision()}`, 1 process, CPU, timings on a",
        "shared 2-core machine).",
        "",
        f"{n} designs of {size}x{size} from `bench/synth.py` (seeds {seed}..{seed + n - 1}, "
        f"categories {', '.join(CATEGORIES)} in turn); ground-truth layers per design: "
        f"median {statistics.median(gt_counts):g}, range {min(gt_counts)}-{max(gt_counts)}.",
        "Scores follow LayerD (ICCV 2025) as used by Qwen-Image-Layered: both sequences are",
        "grouped into depth levels, aligned with order-preserving DTW on",
        "(RGB L1 + 1 - alpha soft IoU) / 2, then up to *m* greedy merges of adjacent levels",
        "(in the prediction or the ground truth) are allowed; columns 0..5 are *m*. RGB L1",
        "(lower is better) is measured where the ground truth is visible; soft IoU (higher is",
        "better) compares alphas. See `bench/layerd_eval.py` for the choices made where the",
        "paper is silent. Baselines: `single` is the input as one layer; `kmeans` is one",
        "hard-alpha layer per CIELAB k-means colour cluster, the largest made an opaque",
        "background (`bench/baselines.py`).",
        "",
        "Read RGB L1 and soft IoU together: L1 compares straight colour only where the ground",
        "truth is visible, and the input as one layer shows every visible pixel in its true",
        "colour, so `single` gets a low L1 by construction while its IoU is poor. The DTW cost",
        "combines both; `tests/bench/test_quality_golden.py` checks the classic engine beats both",
        "baselines on cost and IoU.",
        "",
    ]
    for setting in settings:
        title = (
            "num_layers = ground-truth layer count"
            if setting == "gt"
            else f"num_layers = {setting} for every design"
        )
        lines += [f"## {title}", ""]
        lines += [
            "| method | median s/image | failures |",
            "|---|---:|---:|",
        ]
        for method in methods:
            run = runs[(setting, method)]
            lines.append(
                f"| {method} | {statistics.median(run.seconds):.3f} | {len(run.failures)} |"
            )
        lines += ["", "### Overall", ""]
        lines += _table(
            [(method, runs[(setting, method)].all_scores()) for method in methods],
            first="method",
        )
        lines += _ratios(
            {method: mean_scores(runs[(setting, method)].all_scores()) for method in methods}
        )
        lines += ["", "### Per category", ""]
        rows = []
        for category in CATEGORIES:
            for method in methods:
                per = runs[(setting, method)].scores.get(category)
                if per:
                    rows.append((f"{category} ({len(per)}) | {method}", per))
        lines += _table(rows, first="category (n) | method")
        failures = [f for method in methods for f in runs[(setting, method)].failures]
        if failures:
            lines += ["", "Failures (scored as the input as one layer):", ""]
            lines += [f"- {f}" for f in failures]
        lines.append("")
    return "\n".join(lines)


def _table(rows: Sequence[tuple[str, list[list[EditScores]]]], *, first: str) -> list[str]:
    edits = range(len(rows[0][1][0])) if rows and rows[0][1] else range(0)
    cols = first.count("|") + 1
    out = [
        f"| {first} | metric | " + " | ".join(str(e) for e in edits) + " |",
        "|" + "---|" * cols + "---|" + "---:|" * len(edits),
    ]
    for label, results in rows:
        mean = mean_scores(results)
        out.append(f"| {label} | RGB L1 ↓ | " + " | ".join(f"{m.rgb_l1:.4f}" for m in mean) + " |")
        out.append(
            f"| {label} | soft IoU ↑ | " + " | ".join(f"{m.alpha_iou:.4f}" for m in mean) + " |"
        )
    return out


def _ratios(means: dict[str, list[EditScores]]) -> list[str]:
    """Each engine against each baseline: cost ratio (lower is better) and IoU ratio."""
    engines = [m for m in means if m not in BASELINES]
    baselines = [m for m in means if m in BASELINES]
    if not engines or not baselines:
        return []
    last = len(next(iter(means.values()))) - 1
    out = [
        "",
        f"| ratio | cost, 0 merges | cost, {last} merges | IoU, 0 merges | IoU, {last} merges |",
        "|---|---:|---:|---:|---:|",
    ]
    for engine in engines:
        for baseline in baselines:
            e, b = means[engine], means[baseline]
            out.append(
                f"| {engine} / {baseline} | {e[0].cost / b[0].cost:.2f} | "
                f"{e[last].cost / b[last].cost:.2f} | {e[0].alpha_iou / b[0].alpha_iou:.2f} | "
                f"{e[last].alpha_iou / b[last].alpha_iou:.2f} |"
            )
    return out


def _git_revision() -> str:
    """``HEAD``'s short hash, flagged when the code that shapes the scores differs from it."""
    paths = ("src/lamina/engines", "src/lamina/imaging", *(f"bench/{f}.py" for f in _OWN))
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", *paths)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes" if dirty else head


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _layer_setting(value: str) -> str:
    if value == "gt":
        return value
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("use 'gt' or an integer from 1 to 10") from None
    if not 1 <= k <= 10:
        raise argparse.ArgumentTypeError("use 'gt' or an integer from 1 to 10")
    return str(k)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("--n", type=int, default=60, help="number of designs (default 60)")
    parser.add_argument("--size", type=int, default=512, help="square side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="first design seed")
    parser.add_argument(
        "--layers",
        nargs="+",
        type=_layer_setting,
        default=["gt", "4"],
        help="'gt' (ground-truth count) and/or fixed counts; default: gt 4",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["classic", *BASELINES],
        help="engine names and/or baselines (single, kmeans); default: classic single kmeans",
    )
    parser.add_argument("--max-edits", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report path")
    parser.add_argument("--save", type=Path, help="also write designs and outputs as PNGs here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 64 or args.max_edits < 0 or args.seed < 0:
        parser.error("need --n >= 1, --size >= 64, --seed >= 0 and --max-edits >= 0")
    try:
        methods = build_methods(args.methods)
    except LaminaError as exc:
        parser.error(str(exc))
    runs, gt_counts = run_benchmark(
        methods,
        n=args.n,
        size=args.size,
        seed=args.seed,
        layer_settings=args.layers,
        max_edits=args.max_edits,
        progress=not args.quiet,
        save_dir=args.save,
    )
    command = "python -m bench.quality " + " ".join(sys.argv[1:] if argv is None else list(argv))
    report = render_report(
        runs, gt_counts, command=command.strip(), n=args.n, size=args.size, seed=args.seed
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

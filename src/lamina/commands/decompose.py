"""``lamina decompose``: image files to folders of layers, with no server.

Only argparse is imported at the top: the codec, the engines and tqdm load
inside :func:`run`, so ``lamina --help`` stays fast.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.commands._settings import ENGINE_FLAGS, add_settings_flags, settings_from_args
from lamina.defaults import EXPORT_KINDS

if TYPE_CHECKING:
    from lamina.defaults import ExportKind
    from lamina.engines.base import Engine
    from lamina.types import DecomposeParams

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
"""What a folder contributes; files named on the command line are taken whatever their name."""
_GLOB_CHARS = frozenset("*?[")

EPILOG = """\
Each input gets OUTDIR/NAME/ holding layer_00.png (background) ... layer_NN.png,
layers.json and the exports asked for (layers.zip, layers.psd, layers.pptx).
NAME is the file's stem; when several inputs share a stem, their full file
names are used instead (a.png/, a.jpg/), and a name still taken gets -2, -3, ...
in input order. A folder that already exists is reused: lamina's own files from
an earlier run are replaced, anything else in it is left alone.

exit codes: 0 every input decomposed; 1 at least one input failed (the others
were still written); 2 bad arguments, unknown or unavailable engine, or no input
image found; 130 interrupted.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``decompose`` parser."""
    parser = sub.add_parser(
        "decompose",
        help="decompose image files into RGBA layer files (no server needed)",
        description="Decompose images into editable RGBA layers, back to front.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image file, folder (its images; sub-folders too with -r) or glob pattern "
        "such as 'shots/*.png' (expanded by lamina when the shell does not)",
    )
    parser.add_argument(
        "-n", "--num-layers", type=int, default=4, help="layers per image, 1-10 (default 4)"
    )
    parser.add_argument(
        "-o", "--outdir", type=Path, default=Path("layers"), help="output root (default ./layers)"
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=["png", "webp"],
        default="png",
        help="layer file format, both lossless (default png)",
    )
    parser.add_argument(
        "--export",
        dest="exports",
        type=_export_list,
        action="append",
        default=[],
        metavar="zip,psd,pptx",
        help="also write these layered files (comma-separated or repeated)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--prompt", default=None, help="qwen: text describing the image")
    parser.add_argument("--negative-prompt", default=None, help="qwen: what to avoid")
    parser.add_argument(
        "--steps",
        dest="num_inference_steps",
        type=int,
        default=28,
        help="qwen: inference steps, 1-50 (default 28)",
    )
    parser.add_argument(
        "--guidance-scale", type=float, default=5.0, help="qwen: guidance, 1-20 (default 5)"
    )
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="take images from sub-folders of folders"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no output folder lines"
    )
    add_settings_flags(
        parser,
        "--engine",
        *ENGINE_FLAGS,
    )
    parser.set_defaults(func=run)


def _export_list(value: str) -> list[str]:
    kinds = [kind.strip().lower() for kind in value.split(",") if kind.strip()]
    for kind in kinds:
        if kind not in EXPORT_KINDS:
            raise argparse.ArgumentTypeError(
                f"unknown export {kind!r}; choose from {', '.join(EXPORT_KINDS)}"
            )
    return kinds


def expand_inputs(
    patterns: Sequence[str], *, recursive: bool, outdir: Path | None = None
) -> tuple[list[Path], list[str]]:
    """The files ``patterns`` name, in order, each once; and a message per empty pattern.

    A file is taken as named; a folder gives its image files (by suffix; hidden
    files and folders skipped), sorted; anything else with ``*?[`` is a glob
    (``**`` spans folders) whose matching files are taken, sorted. Folders and
    globs never yield files under ``outdir``, so a re-run does not decompose
    its own earlier output.
    """
    skip = outdir.resolve() if outdir is not None else None

    def wanted(p: Path, root: Path | None = None) -> bool:
        if not p.is_file() or (skip is not None and p.resolve().is_relative_to(skip)):
            return False
        if root is None:
            return True
        hidden = any(part.startswith(".") for part in p.relative_to(root).parts)
        return p.suffix.lower() in IMAGE_SUFFIXES and not hidden

    found: list[Path] = []
    problems: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file():
            matches = [path]
        elif path.is_dir():
            entries = path.rglob("*") if recursive else path.iterdir()
            matches = sorted(p for p in entries if wanted(p, path))
            if not matches:
                problems.append(f"{pattern}: no images in this folder")
        elif _GLOB_CHARS & set(pattern):
            matches = sorted(p for p in map(Path, glob.glob(pattern, recursive=True)) if wanted(p))
            if not matches:
                problems.append(f"{pattern}: no file matches")
        else:
            problems.append(f"{pattern}: no such file or folder")
            matches = []
        found.extend(matches)
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique, problems


def output_names(paths: Sequence[Path]) -> list[str]:
    """One distinct output folder name per input (the rule is in :data:`EPILOG`).

    The stem, or the file name when several inputs share the stem; then
    ``-2``, ``-3``, ... in input order while the name is still taken.
    """
    stems: dict[str, int] = {}
    for path in paths:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    used: set[str] = set()
    names = []
    for path in paths:
        base = path.stem if stems[path.stem] == 1 else path.name
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name)
        names.append(name)
    return names


def run(args: argparse.Namespace) -> int:
    """Decompose every input with one engine; report failures and carry on."""
    from lamina.engines.base import engine_from_settings
    from lamina.types import DecomposeParams

    settings = settings_from_args(args)
    params = DecomposeParams(
        num_layers=args.num_layers,
        seed=args.seed,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=args.num_inference_steps,
        guidance_scale=args.guidance_scale,
        output_format=args.output_format,
        resolution=args.setting_resolution,
    )
    exports: list[ExportKind] = list(dict.fromkeys(k for group in args.exports for k in group))
    inputs, problems = expand_inputs(args.inputs, recursive=args.recursive, outdir=args.outdir)
    for problem in problems:
        print(f"lamina: error: {problem}", file=sys.stderr)
    if not inputs:
        print("lamina: error: no input image found", file=sys.stderr)
        return 2
    engine = engine_from_settings(settings)
    engine.warm_up()
    failed = _decompose_all(
        inputs,
        [args.outdir / name for name in output_names(inputs)],
        engine=engine,
        params=params,
        exports=exports,
        max_pixels=settings.max_pixels,
        max_bytes=settings.max_input_bytes,
        quiet=args.quiet,
    )
    return 1 if failed or problems else 0


def _decompose_all(
    inputs: Sequence[Path],
    folders: Sequence[Path],
    *,
    engine: Engine,
    params: DecomposeParams,
    exports: Sequence[ExportKind],
    max_pixels: int,
    max_bytes: int,
    quiet: bool,
) -> int:
    """Decompose each input into its folder; return how many failed.

    Each distinct engine note (a parameter it ignores, ...) goes to stderr once, not once
    per image; every image's ``layers.json`` keeps its own notes.
    """
    from tqdm import tqdm

    from lamina.engines.base import ProgressCallback
    from lamina.errors import InvalidImage, LaminaError, user_message
    from lamina.pipeline import decompose_image, write_outputs

    batch = len(inputs) > 1
    show_bar = not quiet and (batch or sys.stderr.isatty())
    bar = tqdm(
        total=len(inputs) if batch else 100,
        unit="image" if batch else "%",
        file=sys.stderr,
        disable=not show_bar,
        dynamic_ncols=True,
    )

    def advance(fraction: float, stage: str | None = None, /) -> None:
        if stage is not None:
            bar.set_description(stage)
        bar.update(max(0, round(fraction * 100) - bar.n))

    progress: ProgressCallback | None = advance if show_bar and not batch else None
    failed = 0
    said: set[str] = set()
    with bar:
        for path, folder in zip(inputs, folders, strict=True):
            try:
                size = path.stat().st_size
                if size > max_bytes:
                    raise InvalidImage(f"file is {size} bytes, over the limit of {max_bytes}")
                stack = decompose_image(
                    path.read_bytes(),
                    params,
                    engine=engine,
                    max_pixels=max_pixels,
                    progress=progress,
                )
                write_outputs(stack, folder, exports=exports)
                for note in stack.notes:
                    if note not in said:
                        said.add(note)
                        tqdm.write(f"lamina: note: {note}", file=sys.stderr)
            except (LaminaError, OSError) as exc:
                failed += 1
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                tqdm.write(f"lamina: error: {path}: {message}", file=sys.stderr)
            except Exception as exc:  # a bug must not cost the rest of the batch
                failed += 1  # (its traceback goes to the log, i.e. stderr, by its reference)
                message = user_message(exc, f"decomposing {path} failed")
                tqdm.write(f"lamina: error: {path}: {message}", file=sys.stderr)
            else:
                if not quiet:
                    tqdm.write(str(folder), file=sys.stdout)
            bar.update(1 if batch else 100 - bar.n)
    return failed

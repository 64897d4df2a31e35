"""Start-up time of the ``lamina`` command, next to bare-interpreter baselines.

Usage: ``.venv/bin/python -m bench.cli_startup [--runs 15]``. Prints a Markdown table of
median wall times; the target is ``lamina --help`` under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def median_ms(cmd: list[str], runs: int) -> float:
    """Median wall time of ``cmd`` over ``runs`` runs, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    commands = {
        "lamina --help": [str(BIN / "lamina"), "--help"],
        "lamina decompose --help": [str(BIN / "lamina"), "decompose", "--help"],
        'python -c "import numpy" (baseline)': [sys.executable, "-c", "import numpy"],
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    }
    print("| command | median ms |\n|---|---:|")
    for label, cmd in commands.items():
        print(f"| `{label}` | {median_ms(cmd, args.runs):.0f} |")


if __name__ == "__main__":
    main()

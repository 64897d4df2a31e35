"""Input expansion and output folder naming of ``lamina decompose``, in process."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lamina.commands.decompose import expand_inputs, output_names


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_expand_files_folders_and_globs_in_order_without_duplicates(tmp_path: Path) -> None:
    a = _touch(tmp_path / "d" / "a.PNG")
    b = _touch(tmp_path / "d" / "b.jpeg")
    _touch(tmp_path / "d" / ".hidden.png")
    _touch(tmp_path / "d" / "readme.txt")
    c = _touch(tmp_path / "d" / "sub" / "c.tif")
    odd = _touch(tmp_path / "odd.bin")
    found, problems = expand_inputs(
        [str(odd), str(tmp_path / "d"), str(tmp_path / "d" / "*.PNG"), str(a)], recursive=False
    )
    assert found == [odd, a, b]
    assert problems == []
    found, _ = expand_inputs([str(tmp_path / "d")], recursive=True)
    assert found == [a, b, c]
    found, _ = expand_inputs([str(tmp_path / "**" / "*.tif")], recursive=False)
    assert found == [c]


def test_expand_skips_hidden_folders_and_the_output_folder(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.png")
    _touch(tmp_path / ".git" / "b.png")
    _touch(tmp_path / "layers" / "a" / "layer_00.png")
    named = _touch(tmp_path / "layers" / "a" / "layer_01.png")
    out = tmp_path / "layers"
    assert expand_inputs([str(tmp_path)], recursive=True, outdir=out)[0] == [a]
    assert expand_inputs([str(tmp_path / "**" / "*.png")], recursive=False, outdir=out)[0] == [a]
    # a file named explicitly is always taken
    assert expand_inputs([str(named)], recursive=False, outdir=out)[0] == [named]


def test_expand_reports_each_pattern_that_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    found, problems = expand_inputs(
        [str(tmp_path / "empty"), str(tmp_path / "*.gif"), str(tmp_path / "missing.png")],
        recursive=False,
    )
    assert found == []
    assert [p.split(": ")[1] for p in problems] == [
        "no images in this folder",
        "no file matches",
        "no such file or folder",
    ]


def test_output_names_follow_the_documented_rule() -> None:
    paths = [Path("x/a.png"), Path("x/a.jpg"), Path("y/a.png"), Path("b.png"), Path("z/a.png")]
    assert output_names(paths) == ["a.png", "a.jpg", "a.png-2", "b", "a.png-3"]
    assert output_names([Path("solo.webp")]) == ["solo"]


_name = st.text(alphabet="ab.-2", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@given(st.lists(st.tuples(st.sampled_from(["p", "q", "r"]), _name), max_size=12))
def test_output_names_are_always_distinct(entries: list[tuple[str, str]]) -> None:
    paths = [Path(folder) / name for folder, name in entries]
    names = output_names(paths)
    assert len(set(names)) == len(names) == len(paths)
    assert names == output_names(paths)  # deterministic

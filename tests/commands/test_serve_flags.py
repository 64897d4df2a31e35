"""``lamina serve`` flags map onto Settings; a bad value is one readable line, exit code 2."""

from __future__ import annotations

import pytest

from lamina.cli import build_parser, main
from lamina.commands._settings import settings_from_args


def test_rate_limit_and_retention_flags_set_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_RETENTION_DAYS", "3")
    args = build_parser().parse_args(["serve", "--rate-limit-per-minute", "0"])
    settings = settings_from_args(args)
    assert settings.rate_limit_per_minute == 0
    assert settings.retention_days == 3.0  # no flag: the environment still counts
    args = build_parser().parse_args(["serve", "--retention-days", "0.5"])
    assert settings_from_args(args).retention_days == 0.5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--retention-days", "0"], "--retention-days: Input should be greater than 0"),
        (["--rate-limit-per-minute", "-1"], "--rate-limit-per-minute: Input should be greater"),
        (["--port", "70000"], "--port: Input should be less than or equal to 65535"),
    ],
)
def test_out_of_range_values_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lamina: error: " + message) and "Traceback" not in err


def test_a_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAMINA_RATE_LIMIT_PER_MINUTE", "-3")
    assert main(["serve"]) == 2
    assert "LAMINA_RATE_LIMIT_PER_MINUTE: Input should be greater" in capsys.readouterr().err

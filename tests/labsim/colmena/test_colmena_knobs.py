"""The colmena double's knobs: read from the hive's knob file, the environment winning."""

from __future__ import annotations

from pathlib import Path

from labsim.colmena.knobs import KNOB_FILE, ColmenaKnobs


def test_build_delay_is_off_by_default_and_read_from_the_file_or_the_environment(
    tmp_path: Path,
) -> None:
    assert ColmenaKnobs.load(tmp_path, {}).build_delay == 0.0  # builds take no time of their own
    (tmp_path / KNOB_FILE).write_text('{"build_delay": 0.5}')
    assert ColmenaKnobs.load(tmp_path, {}).build_delay == 0.5
    environ = {"LABSIM_COLMENA_BUILD_DELAY": "1.25"}
    assert ColmenaKnobs.load(tmp_path, environ).build_delay == 1.25

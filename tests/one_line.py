"""Shared by the bad-input and plug-in tests: run ``scanflow ARGV`` in-process and hold it to the promise for
bad input: exit 2, exactly one ``scanflow: error: ...`` line on stderr, no traceback, no warning."""

from __future__ import annotations

import warnings

from scanflow.cli import main


def one_line_error(argv: list[str], capsys) -> str:
    """The one error line of ``scanflow ARGV`` (asserting exit 2, one line, no traceback or warning)."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:  # a warning would be a second stderr line
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code
    err = capsys.readouterr().err
    assert not caught, [str(w.message) for w in caught]
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scanflow: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]

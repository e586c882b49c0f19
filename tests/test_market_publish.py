"""`powerx plugin publish --sign`: what is checked before anything is built."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError
from pipeline.workflows.market_publish import Signing

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("source_commit", ["nothex", COMMIT[:12], f"{COMMIT}\n", COMMIT.upper()])
def test_a_source_commit_that_is_not_a_full_commit_id_is_bad_input(source_commit: str) -> None:
    with pytest.raises(InputError, match="is not a full git commit id"):
        Signing(source_commit)


def test_a_full_commit_id_is_taken() -> None:
    assert Signing(COMMIT).source_commit == COMMIT
    assert Signing(COMMIT + "0" * 24).source_commit == COMMIT + "0" * 24  # SHA-256 repos

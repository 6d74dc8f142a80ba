"""Session fixtures for the CometBFT tests: the pinned binary and bindings, built once if missing.

Set COLEDGER_TOOLS_DIR to reuse an existing tools directory (e.g. another checkout's `.tools`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.cometbft.toolchain import GoNotFoundError, ensure_bindings, ensure_cometbft


@pytest.fixture(scope="session")
def cometbft_bin() -> Path:
    """The pinned CometBFT binary; the only reason to skip is a machine without Go."""
    try:
        binary = ensure_cometbft(print)
        ensure_bindings(print)
    except GoNotFoundError as e:
        pytest.skip(f"CometBFT unavailable: {e}")
    return binary

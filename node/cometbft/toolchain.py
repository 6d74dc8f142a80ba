"""The pinned CometBFT engine and its Python protobuf bindings, built on first use.

Why build instead of vendoring: CometBFT is a Go program that builds without cgo from the public
Go module proxy, and its wire types are described by the `.proto` files inside the same module.
Pinning one version here and deriving both the binary and the bindings from that module keeps the
engine and our ABCI codec from ever disagreeing, and keeps every upstream file out of our tree.

Both artifacts live under `tools_dir()/cometbft/<version>/` and are produced atomically (built in
a temporary directory, then renamed), so a crash or a concurrent first use never leaves a half
built binary or half generated bindings that a later run would trust.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

__all__ = [
    "COMETBFT_MODULE",
    "COMETBFT_VERSION",
    "BindingsGenerationError",
    "BuildFailedError",
    "GoNotFoundError",
    "ModuleDownloadError",
    "ToolchainError",
    "bindings_dir",
    "cometbft_path",
    "ensure_bindings",
    "ensure_cometbft",
    "installed_version",
    "main",
    "module_dir",
    "tools_dir",
    "version_dir",
]

COMETBFT_VERSION = "v0.38.26"
COMETBFT_MODULE = "github.com/cometbft/cometbft"
# gogoproto annotations are imported by every CometBFT .proto; the version comes from the pinned go.mod.
GOGOPROTO_MODULE = "github.com/cosmos/gogoproto"
BINDINGS_MARKER = "COMPLETE.json"

_log = logging.getLogger(__name__)
_TAIL_CHARS = 4000
_BUILD_TIMEOUT_S = 30 * 60
Progress = Callable[[str], None]


class ToolchainError(Exception):
    """Root of every failure to provide the pinned engine or its bindings."""


class GoNotFoundError(ToolchainError):
    """The `go` command is missing, so CometBFT cannot be built or its module downloaded."""


class BuildFailedError(ToolchainError):
    """`go install` of CometBFT failed; `stderr_tail` holds the end of Go's own explanation."""

    def __init__(self, message: str, stderr_tail: str) -> None:
        super().__init__(f"{message}\n--- go stderr (tail) ---\n{stderr_tail}")
        self.stderr_tail = stderr_tail


class ModuleDownloadError(ToolchainError):
    """`go mod download` could not fetch a module whose .proto files the bindings need."""


class BindingsGenerationError(ToolchainError):
    """grpcio-tools' protoc is missing or rejected the pinned module's .proto files."""


def _repo_root() -> Path:
    # The repository root is the parent of the `node` package: node/cometbft/toolchain.py -> ../..
    return Path(__file__).resolve().parents[2]


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def tools_dir() -> Path:
    """Where built tools live: $COLEDGER_TOOLS_DIR, else `<repo>/.tools`, else ~/.cache/coledger/tools.

    The fallback exists for read-only installs (site-packages owned by root, a container layer).
    """
    override = os.environ.get("COLEDGER_TOOLS_DIR")
    if override:
        return Path(override).expanduser().resolve()
    local = _repo_root() / ".tools"
    if _writable_dir(local):
        return local
    return Path.home() / ".cache" / "coledger" / "tools"


def version_dir() -> Path:
    """Everything derived from the pinned version; a new pin gets a fresh directory, never a mix."""
    return tools_dir() / "cometbft" / COMETBFT_VERSION


def cometbft_path() -> Path:
    """The pinned binary's path (it may not exist yet: see `ensure_cometbft`)."""
    return version_dir() / "bin" / "cometbft"


def bindings_dir() -> Path:
    """The directory to put on sys.path to import `tendermint.*` and `gogoproto.*` bindings."""
    return version_dir() / "python"


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
    else:
        _log.info("%s", line)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoNotFoundError(
            "the Go toolchain is required to build CometBFT (no cgo needed): install Go >= 1.22 "
            "from https://go.dev/dl/ or your package manager, and make sure `go` is on PATH"
        )
    return go


def installed_version(binary: Path | None = None) -> str | None:
    """The version `cometbft version` reports (e.g. "0.38.26"), or None if it cannot be run."""
    binary = binary or cometbft_path()
    if not binary.is_file():
        return None
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _is_pinned(binary: Path) -> bool:
    return installed_version(binary) == COMETBFT_VERSION.removeprefix("v")


def ensure_cometbft(progress: Progress | None = None) -> Path:
    """Return the pinned binary, building it with `go install` first if absent or of another version."""
    target = cometbft_path()
    if _is_pinned(target):
        return target
    go = _go()
    target.parent.mkdir(parents=True, exist_ok=True)
    _say(progress, f"building CometBFT {COMETBFT_VERSION} (first use, ~1-2 min)...")
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=".build-") as tmp:
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=tmp)
        cmd = [go, "install", "-trimpath", f"{COMETBFT_MODULE}/cmd/cometbft@{COMETBFT_VERSION}"]
        try:
            # cwd=tmp: `go install pkg@version` must not be influenced by a go.mod/go.work around us.
            done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise BuildFailedError(f"`{' '.join(cmd)}` timed out after {_BUILD_TIMEOUT_S} s", _tail(e.stderr)) from e
        built = Path(tmp) / "cometbft"
        if done.returncode != 0 or not built.is_file():
            raise BuildFailedError(f"`{' '.join(cmd)}` exited with {done.returncode}", _tail(done.stderr))
        if not _is_pinned(built):
            raise BuildFailedError(
                f"built binary reports {installed_version(built)!r}, expected {COMETBFT_VERSION}", _tail(done.stderr)
            )
        os.replace(built, target)  # same filesystem: atomic, a concurrent reader sees old or new
    _say(progress, f"built {target}")
    return target


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-_TAIL_CHARS:]


def module_dir(module: str = COMETBFT_MODULE, version: str = COMETBFT_VERSION) -> Path:
    """The extracted source of `module@version` in the Go module cache (downloading it if needed)."""
    go = _go()
    with tempfile.TemporaryDirectory(prefix="coledger-gomod-") as tmp:
        try:
            done = subprocess.run(
                [go, "mod", "download", "-json", f"{module}@{version}"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=_BUILD_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as e:
            raise ModuleDownloadError(f"go mod download {module}@{version} timed out") from e
    try:
        info = json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise ModuleDownloadError(f"go mod download {module}@{version} failed: {_tail(done.stderr)}") from e
    if done.returncode != 0 or info.get("Error") or not info.get("Dir"):
        raise ModuleDownloadError(
            f"go mod download {module}@{version} failed: {info.get('Error') or _tail(done.stderr)}"
        )
    return Path(info["Dir"])


def _required_version(go_mod: Path, module: str) -> str:
    """The version of `module` that the pinned go.mod requires (so our gogo.proto matches theirs)."""
    match = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.MULTILINE)
    if match is None:
        raise ModuleDownloadError(f"{go_mod} does not require {module}")
    return match.group(1)


def _protoc_version() -> str:
    try:
        return metadata.version("grpcio-tools")
    except metadata.PackageNotFoundError as e:
        raise BindingsGenerationError("grpcio-tools is not installed: pip install 'grpcio-tools>=1.68,<2'") from e


def _marker_matches(directory: Path, expected: dict[str, str]) -> bool:
    try:
        return bool(json.loads((directory / BINDINGS_MARKER).read_text()) == expected)
    except (OSError, ValueError):
        return False


def ensure_bindings(progress: Progress | None = None) -> Path:
    """Return the bindings directory, generating `*_pb2.py` from the pinned module if needed.

    The marker records the grpcio-tools version: generated code demands a protobuf runtime at
    least as new as its protoc, so a changed grpcio-tools means regenerating.
    """
    target = bindings_dir()
    expected = {"cometbft": COMETBFT_VERSION, "grpcio_tools": _protoc_version()}
    if _marker_matches(target, expected):
        return target
    _say(progress, f"generating CometBFT {COMETBFT_VERSION} protobuf bindings...")
    cometbft_src = module_dir()
    gogo_src = module_dir(GOGOPROTO_MODULE, _required_version(cometbft_src / "go.mod", GOGOPROTO_MODULE))
    proto_root = cometbft_src / "proto"
    sources = sorted(str(p.relative_to(proto_root)) for p in (proto_root / "tendermint").rglob("*.proto"))
    if not sources or not (gogo_src / "gogoproto" / "gogo.proto").is_file():
        raise BindingsGenerationError(f"no .proto files found under {proto_root} or gogoproto missing in {gogo_src}")
    import grpc_tools  # deferred: only bindings generation needs it

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".python-"))
    try:
        cmd = [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{proto_root}", f"-I{gogo_src}", f"-I{well_known}",
            f"--python_out={tmp}", f"--pyi_out={tmp}",
            "gogoproto/gogo.proto", *sources,
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise BindingsGenerationError(f"protoc failed ({done.returncode}): {_tail(done.stderr)}")
        (tmp / BINDINGS_MARKER).write_text(json.dumps(expected))
        if target.exists():
            shutil.rmtree(target)  # stale (other versions or incomplete): never merge into it
        try:
            tmp.rename(target)
        except OSError:
            if not _marker_matches(target, expected):  # lost a race to a complete twin: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _say(progress, f"generated {target}")
    return target


def main() -> int:
    """`python -m node.cometbft.toolchain`: build/generate what is missing and print the paths."""

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        binary = ensure_cometbft(progress)
        bindings = ensure_bindings(progress)
    except ToolchainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"cometbft {COMETBFT_VERSION}: {binary}")
    print(f"bindings: {bindings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

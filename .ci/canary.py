"""A canary for upstream drift: does Sightline still work on the newest releases it allows?

Set-ups install the hash-locked ``locks/<os>-<machine>-py<X.Y>.txt``, so a new upstream release
cannot break anyone's install; it breaks the next ``bash dev.sh lock`` instead, or a user who
installs from the ``pyproject.toml`` ranges. This script finds out first (``bash dev.sh canary``):

1. **install**: a throwaway venv gets the newest releases the ranges allow (``pip install --upgrade
   pip``, then ``pip install --upgrade --upgrade-strategy eager -r locks/build.in -e '.[dev]'``: the
   set the lock is resolved from), no lock;
2. the installed versions are compared with the lock: every package whose version differs
   (locked → newest) and every package the lock does not hold;
3. the steps run on those releases: **prepare** (``sightline models prepare`` into a throwaway model
   cache, seeded with links to the archives already downloaded, which prepare re-checks by sha256)
   and **smoke** (``pytest -m smoke``, the fast end-to-end subset, with that cache);
4. a step that fails is traced to the package(s) that broke it: every differing package goes back
   to its locked version and the step reruns (still failing: not upstream drift); otherwise, from
   that locked state, one package at a time goes to its newest version, and each whose upgrade
   alone makes the step fail is a culprit (``--max-trials`` caps the reruns);
5. a table on stdout, or with ``--json`` exactly one JSON object; progress, pip and the steps'
   own output on stderr.

Exit status: 0 when every step passes on the newest releases, 1 when one fails (culprits named or
not), 2 on a usage or set-up error (no lock for this platform, a venv that cannot be made).

Standard library only, Python 3.11: it runs with the system interpreter before any venv exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "STEPS",
    "Culprit",
    "Difference",
    "Environment",
    "Outcome",
    "Report",
    "Search",
    "SetupError",
    "StepResult",
    "compute_differences",
    "find_lock",
    "main",
    "normalise_name",
    "parse_lock",
    "parse_pip_list",
    "platform_tag",
    "render_table",
    "run_steps",
    "search_culprits",
    "tail_lines",
]

log = logging.getLogger("canary")

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Lines of a failing command's output kept in the report: enough for pytest's short summary or a
#: traceback's last frames, few enough to read in a table.
TAIL_LINES = 15
#: Bytes of output kept to cut the tail from; the rest streams to stderr and is forgotten.
_TAIL_BYTES = 64 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A requirement line of a uv/pip-compile lock: `name[extras]==version` before hashes or a marker.
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


class SetupError(Exception):
    """The canary cannot run here (exit status 2): no lock for this platform, no venv, ..."""


# -- pure parts: names, locks, differences -------------------------------------------------------


def normalise_name(name: str) -> str:
    """A distribution name as PEP 503 compares them: ``Foo_Bar.baz`` and ``foo-bar-baz`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def platform_tag(
    system: str | None = None, machine: str | None = None, version: tuple[int, int] | None = None
) -> str:
    """``<os>-<machine>-py<X.Y>`` as ``dev.sh``'s ``platform_tag`` spells it (``uname -s``, lowered;
    ``uname -m``; this interpreter's version), e.g. ``linux-x86_64-py3.11``."""
    system = (system or platform.system()).lower()
    machine = machine or platform.machine()
    major, minor = version or sys.version_info[:2]
    return f"{system}-{machine}-py{major}.{minor}"


def find_lock(locks_dir: Path, tag: str) -> Path:
    """The lock file for ``tag``; SetupError worded like ``dev.sh``'s ``lock_file`` when absent."""
    lock = locks_dir / f"{tag}.txt"
    if lock.is_file():
        return lock
    known = " ".join(sorted(p.stem for p in locks_dir.glob("*-py*.txt"))) or "none"
    rel = f"{locks_dir.name}/{lock.name}"
    raise SetupError(
        f"no lock file for this platform: {tag} (looked for {rel}; locked: {known}).\n"
        "  Make one on this machine with 'bash dev.sh lock' (needs the package index), check that\n"
        f"  'bash dev.sh test' passes with it, and commit {rel}. Or run on a locked platform."
    )


def parse_lock(text: str) -> dict[str, str]:
    """``{normalised name: version}`` from a lock's ``name==version`` lines; hashes, ``# via``
    comments and continuation lines are skipped, extras and markers dropped."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _LOCK_LINE.match(line.strip())
        if match:
            pins[normalise_name(match.group(1))] = match.group(2)
    return pins


def parse_pip_list(text: str) -> dict[str, str]:
    """``{normalised name: version}`` from ``pip list --format json``."""
    return {normalise_name(item["name"]): str(item["version"]) for item in json.loads(text)}


@dataclass(frozen=True, slots=True)
class Difference:
    """A package whose newest allowed release differs from the lock. ``locked`` is None for a
    package the lock does not hold (a new requirement); ``newest`` is None for one the newest
    releases no longer pull in. ``held_back``: ``locks/constraints.txt`` pins it on purpose, for a
    reason written there that the smoke subset may not cover."""

    name: str
    locked: str | None
    newest: str | None
    held_back: bool = False

    @property
    def searchable(self) -> bool:
        """Both versions known: the culprit search can move it between them."""
        return self.locked is not None and self.newest is not None


def compute_differences(
    locked: Mapping[str, str],
    installed: Mapping[str, str],
    ignore: Sequence[str] = (),
    held_back: Collection[str] = (),
) -> list[Difference]:
    """Every package, by name, whose installed version is not its locked one, or that only one side
    holds. ``ignore`` names packages to leave out (the project itself); ``held_back`` those the
    lock's constraints pin on purpose."""
    skip = {normalise_name(n) for n in ignore}
    held = {normalise_name(n) for n in held_back}
    out = []
    for name in sorted((set(locked) | set(installed)) - skip):
        old, new = locked.get(name), installed.get(name)
        if old is None or new is None or old.lower() != new.lower():
            out.append(Difference(name, old, new, name in held))
    return out


def tail_lines(raw: bytes | str, n: int = TAIL_LINES) -> str:
    """The last ``n`` non-blank lines of a command's output, without colour codes or the
    carriage-return redraws of progress bars."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    lines = []
    # split("\n"), not splitlines(): a "\r" redraws the line it is on rather than ending it.
    for line in _ANSI.sub("", text).split("\n"):
        shown = [part for part in line.split("\r") if part.strip()]
        if shown:
            lines.append(shown[-1].rstrip())
    return "\n".join(lines[-n:])


# -- steps, results and the report ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """A check run on the installed releases; ``needs`` names a step whose output it uses."""

    name: str
    needs: str | None
    what: str


#: The steps, in the order they run. The smoke tests read the models prepare wrote.
STEPS: dict[str, Step] = {
    "prepare": Step("prepare", None, "sightline models prepare into a throwaway model cache"),
    "smoke": Step("smoke", "prepare", "pytest -m smoke (the fast end-to-end subset) on those models"),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one command ended: exit status, duration and the tail of its output."""

    returncode: int
    seconds: float
    tail: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclass(slots=True)
class StepResult:
    """A step's result on one set of releases. ``status`` is passed, failed or "not run" (a step it
    needs failed); ``verdict`` says what the culprit search concluded for a failed step."""

    name: str
    ok: bool
    status: str
    seconds: float
    error_tail: str = ""
    verdict: str = ""

    @classmethod
    def from_outcome(cls, name: str, outcome: Outcome, timeout: float | None = None) -> StepResult:
        if outcome.ok:
            return cls(name, True, "passed", round(outcome.seconds, 1))
        tail = outcome.tail
        if outcome.timed_out:
            tail = f"{tail}\n(killed after {timeout or outcome.seconds:.0f} s)".lstrip()
        return cls(name, False, "failed", round(outcome.seconds, 1), tail)


@dataclass(frozen=True, slots=True)
class Culprit:
    """A package whose upgrade alone, from the locked state, makes ``step`` fail."""

    step: str
    package: str
    locked: str
    newest: str
    error_tail: str


@dataclass(slots=True)
class Report:
    """Everything the canary found; ``to_json`` is the ``--json`` object."""

    python: str
    platform: str
    lock: str
    differences: list[Difference]
    steps: list[StepResult]
    culprits: list[Culprit] = field(default_factory=list)
    trials: int = 0
    max_trials: int = 0
    capped: bool = False
    untried: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workdir: str | None = None

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def exit_code(self) -> int:
        """0 when every step passes on the newest releases, 1 when upstream breaks something."""
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "python": self.python,
            "platform": self.platform,
            "lock": self.lock,
            "differences": [asdict(d) for d in self.differences],
            "steps": [asdict(s) for s in self.steps],
            "culprits": [asdict(c) for c in self.culprits],
            "trials": self.trials,
            "max_trials": self.max_trials,
            "capped": self.capped,
            "untried": self.untried,
            "seconds": round(self.seconds, 1),
            "workdir": self.workdir,
        }


def _indent(text: str, prefix: str = "      | ") -> list[str]:
    return [prefix + line for line in text.splitlines()]


def render_table(report: Report) -> str:
    """The human report: differences, then each step with its verdict, culprits and error tail."""
    out = [
        f"Sightline canary: the newest releases pyproject.toml allows, against {report.lock}",
        f"Python {report.python} on {report.platform}, {report.seconds:.0f} s",
        "",
    ]
    if report.differences:
        out.append(f"{len(report.differences)} package(s) differ from the lock:")
        width = max(len("package"), *(len(d.name) for d in report.differences))
        out.append(f"  {'package':<{width}}  {'locked':<14}  newest")
        for d in report.differences:
            locked = d.locked or "(not locked)"
            newest = d.newest or "(not installed)"
            held = "  (held back: locks/constraints.txt)" if d.held_back else ""
            out.append(f"  {d.name:<{width}}  {locked:<14}  {newest}{held}")
    else:
        out.append("every installed version is the locked one")
    out += ["", f"  {'step':<8}  {'status':<8}  {'seconds':>7}  culprit"]
    for step in report.steps:
        mine = [c for c in report.culprits if c.step == step.name]
        first = f"{mine[0].package} {mine[0].locked} → {mine[0].newest}" if mine else ""
        out.append(f"  {step.name:<8}  {step.status:<8}  {step.seconds:>7.1f}  {first}")
        out += [f"  {'':<8}  {'':<8}  {'':>7}  {c.package} {c.locked} → {c.newest}" for c in mine[1:]]
        if step.ok:
            continue
        if step.verdict:
            out.append(f"      {step.verdict}")
        out += _indent(step.error_tail)
        # One culprit's failure is the step's; several may fail in different ways.
        for culprit in mine if len(mine) > 1 else []:
            out.append(f"      with only {culprit.package} {culprit.newest}:")
            out += _indent(culprit.error_tail)
    out.append("")
    if report.trials or report.capped:
        cap = (
            f"; cap of {report.max_trials} hit, not tried: {', '.join(report.untried)}"
            if report.capped
            else ""
        )
        out.append(f"culprit search: {report.trials} trial(s){cap}")
    out.append(
        "every step passes on the newest releases"
        if report.ok
        else "upstream releases break a step (see above)"
        if report.culprits
        else "a step fails (see above)"
    )
    pinned = [d.name for d in report.differences if d.held_back]
    if pinned:
        out.append(
            f"held back on purpose in locks/constraints.txt: {', '.join(pinned)}; read the reason there "
            "before lifting a pin (it may concern a test outside the smoke subset)"
        )
    if report.workdir:
        out.append(f"kept {report.workdir}")
    return "\n".join(line.rstrip() for line in out)


# -- the culprit search ---------------------------------------------------------------------------


class Environment(Protocol):
    """Where the steps run and packages move: the canary's venv, or a fake in tests."""

    def install(self, requirements: Sequence[str]) -> Outcome:
        """``pip install`` these ``name==version`` requirements (pip may move their requirements)."""
        ...

    def uninstall(self, names: Sequence[str]) -> Outcome: ...

    def versions(self) -> dict[str, str]:
        """Installed ``{normalised name: version}``, the project itself left out."""
        ...

    def run_step(self, name: str) -> Outcome: ...


def run_steps(env: Environment, names: Sequence[str], timeout: float | None = None) -> dict[str, StepResult]:
    """Run the named steps in ``STEPS`` order; a step whose ``needs`` failed here is "not run"."""
    results: dict[str, StepResult] = {}
    for step in STEPS.values():
        if step.name not in names:
            continue
        need = results.get(step.needs) if step.needs else None
        if need is not None and not need.ok:
            results[step.name] = StepResult(
                step.name, False, "not run", 0.0, f"needs {need.name}, which failed"
            )
            continue
        results[step.name] = StepResult.from_outcome(step.name, env.run_step(step.name), timeout)
    return results


@dataclass(slots=True)
class Search:
    """What the culprit search found: culprits, a verdict per searched step, the trials it spent."""

    culprits: list[Culprit] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    trials: int = 0
    capped: bool = False
    untried: list[str] = field(default_factory=list)


def _restore(env: Environment, baseline: Mapping[str, str]) -> None:
    """Put every package back to its version in ``baseline`` and remove any the trial added."""
    now = env.versions()
    extra = sorted(set(now) - set(baseline))
    if extra and not env.uninstall(extra).ok:
        raise SetupError(f"cannot uninstall {', '.join(extra)} to restore the locked state")
    moved = [f"{name}=={version}" for name, version in sorted(baseline.items()) if now.get(name) != version]
    if moved and not env.install(moved).ok:
        raise SetupError(f"cannot restore the locked state: pip install {' '.join(moved)} failed")


def search_culprits(
    env: Environment,
    failing: Sequence[str],
    differences: Sequence[Difference],
    max_trials: int,
    timeout: float | None = None,
) -> Search:
    """Find which upgrade(s) make the ``failing`` steps fail.

    One trial is one set of releases with the failing steps rerun on it. The first puts every
    differing package back to its locked version: a step failing there too is not upstream drift.
    Then each differing package alone goes to its newest version (pip may move its requirements)
    and back; each whose upgrade makes a step fail is a culprit. One at a time, not bisection: a
    typical refresh moves a handful of packages, and a culprit named alone needs no second look.
    """
    search = Search()
    movable = [d for d in differences if d.searchable]
    if not movable:
        for name in failing:
            search.verdicts[name] = "fails, and no package differs from the lock: not upstream drift"
        return search
    if max_trials < 1:
        search.capped, search.untried = True, [d.name for d in movable]
        for name in failing:
            search.verdicts[name] = "not searched (--max-trials 0)"
        return search
    log.info("culprit search: every differing package back to its locked version")
    search.trials += 1
    to_lock = [f"{d.name}=={d.locked}" for d in differences if d.locked is not None]
    installed = env.install(to_lock)
    if not installed.ok:
        for name in failing:
            search.verdicts[name] = "cannot go back to the locked versions (pip failed), so no culprit search"
        return search
    at_lock = run_steps(env, failing, timeout)
    drifted = [name for name in failing if at_lock[name].ok]
    for name in failing:
        if name not in drifted:
            search.verdicts[name] = "fails with the locked versions too (not upstream drift)"
    if not drifted:
        return search
    baseline = env.versions()
    tried: list[str] = []
    skipped: list[str] = []
    stopped = ""
    for i, diff in enumerate(movable):
        if search.trials >= max_trials:
            search.capped, search.untried = True, [d.name for d in movable[i:]]
            break
        assert diff.locked is not None and diff.newest is not None
        search.trials += 1
        log.info(
            "culprit search, trial %d: only %s %s → %s", search.trials, diff.name, diff.locked, diff.newest
        )
        tried.append(diff.name)
        if env.install([f"{diff.name}=={diff.newest}"]).ok:
            results = run_steps(env, drifted, timeout)
            for name in drifted:
                if results[name].status == "failed":
                    tail = results[name].error_tail
                    search.culprits.append(Culprit(name, diff.name, diff.locked, diff.newest, tail))
        else:
            log.warning("cannot install %s==%s alone; skipped", diff.name, diff.newest)
            skipped.append(diff.name)
        try:
            _restore(env, baseline)
        except SetupError as exc:
            stopped = str(exc)
            log.warning("culprit search stopped: %s", stopped)
            search.untried = [d.name for d in movable[i + 1 :]]
            break
    not_installed = f" ({', '.join(skipped)} would not install alone)" if skipped else ""
    for name in drifted:
        found = [c for c in search.culprits if c.step == name]
        if found:
            names = ", ".join(f"{c.package} {c.locked} → {c.newest}" for c in found)
            search.verdicts[name] = f"passes with the locked versions; breaks with {names}"
        elif stopped:
            search.verdicts[name] = f"passes with the locked versions; search stopped: {stopped}"
        elif search.capped:
            search.verdicts[name] = (
                f"passes with the locked versions; no culprit among the {len(tried)} package(s) tried "
                f"before the cap of {max_trials} trials{not_installed}"
            )
        else:
            search.verdicts[name] = (
                "passes with the locked versions and with each upgrade alone: a combination of "
                f"upgrades breaks it{not_installed}"
            )
    return search


# -- the venv -------------------------------------------------------------------------------------


def _run(cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> Outcome:
    """Run ``cmd``, streaming its output (stdout and stderr, merged) to our stderr as it comes, so
    progress bars move; keep the tail for the report. Past ``timeout`` its process group is killed."""
    log.debug("running %s", shlex.join(cmd))
    started = time.monotonic()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    kept = bytearray()

    def pump() -> None:
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
            kept.extend(chunk)
            del kept[:-_TAIL_BYTES]

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        returncode = proc.wait()
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    reader.join(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    return Outcome(returncode, time.monotonic() - started, tail_lines(bytes(kept)), timed_out)


class VenvEnvironment:
    """The throwaway venv and model cache under ``workdir`` (an :class:`Environment`)."""

    def __init__(self, repo: Path, workdir: Path, project: str, timeout: float) -> None:
        self.repo = repo
        self.venv = workdir / "venv"
        self.models = workdir / "models"
        self.python = self.venv / "bin" / "python"
        self.project = normalise_name(project)
        self.timeout = timeout
        # CI=true turns a test's missing dependency into a failure (tests/realdeps.py): the canary
        # asks about releases, not about this machine, so it runs as a developer would.
        env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTHONPATH", "PYTHONHOME"}}
        env |= {
            "VIRTUAL_ENV": str(self.venv),
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "SIGHTLINE_MODELS__CACHE_DIR": str(self.models),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.env = env

    def _pip(self, *args: str) -> Outcome:
        cmd = [str(self.python), "-m", "pip", *args]
        log.info("%s", shlex.join(["pip", *args]))
        return _run(cmd, cwd=self.repo, env=self.env, timeout=self.timeout)

    def create(self) -> None:
        log.info("creating a throwaway venv in %s", self.venv)
        proc = subprocess.run(
            [sys.executable, "-m", "venv", str(self.venv)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SetupError(f"cannot create a venv in {self.venv}: {tail_lines(proc.stderr or proc.stdout)}")

    def seed_models(self, source: Path) -> int:
        """Link the archives already downloaded in ``source`` into this cache's ``dist/`` so that
        prepare need not download them again; prepare re-checks each one's sha256 and fetches a
        fresh copy of any that does not match, so a stale link costs a download, never a wrong model."""
        dist = self.models / "dist"
        dist.mkdir(parents=True, exist_ok=True)
        count = 0
        if source.is_dir():
            for archive in sorted(source.iterdir()):
                if archive.is_file():
                    (dist / archive.name).symlink_to(archive.resolve())
                    count += 1
        return count

    def install_newest(self) -> Outcome:
        """The newest releases the ``pyproject.toml`` ranges allow, the dev extra included, with the
        build tools of ``locks/build.in``: the set the lock is resolved from, so that a package
        only one side holds is a real difference (without them ``wheel``, which the lock holds for
        ``pip install --no-build-isolation``, shows up as missing)."""
        first = self._pip("install", "--no-input", "--upgrade", "pip")
        if not first.ok:
            return first
        eager = ("--upgrade", "--upgrade-strategy", "eager")
        second = self._pip("install", "--no-input", *eager, "-r", "locks/build.in", "-e", ".[dev]")
        return Outcome(second.returncode, first.seconds + second.seconds, second.tail, second.timed_out)

    def install(self, requirements: Sequence[str]) -> Outcome:
        return self._pip("install", "--no-input", *requirements)

    def uninstall(self, names: Sequence[str]) -> Outcome:
        return self._pip("uninstall", "--yes", *names)

    def versions(self) -> dict[str, str]:
        proc = subprocess.run(
            [str(self.python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if proc.returncode != 0:
            raise SetupError(f"pip list failed in {self.venv}: {tail_lines(proc.stderr)}")
        installed = parse_pip_list(proc.stdout)
        installed.pop(self.project, None)
        return installed

    def _clear_models(self) -> None:
        """Remove prepared models, keeping the downloaded archives: prepare leaves a file that
        already matches alone, so without this a rerun would convert nothing and test nothing."""
        if not self.models.is_dir():
            return
        for child in self.models.iterdir():
            if child.name == "dist":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def run_step(self, name: str) -> Outcome:
        if name == "prepare":
            self._clear_models()
            cmd = [str(self.venv / "bin" / "sightline"), "models", "prepare"]
        elif name == "smoke":
            cmd = [str(self.python), "-m", "pytest", "-m", "smoke", "-q", "-p", "no:cacheprovider"]
        else:
            raise ValueError(f"unknown step {name!r}; known: {', '.join(STEPS)}")
        log.info("step %s: %s", name, STEPS[name].what)
        return _run(cmd, cwd=self.repo, env=self.env, timeout=self.timeout)


# -- the command ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bash dev.sh canary",
        description="Install the newest releases pyproject.toml allows into a throwaway venv, compare "
        "them with the lock, prepare the models and run the smoke tests; if a step fails, name the "
        "package(s) whose upgrade breaks it. Exit 0: all pass; 1: upstream breaks a step; 2: set-up.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="work here instead of a temporary directory (absent or empty; never removed)",
    )
    parser.add_argument(
        "--max-trials",
        type=int,
        default=30,
        metavar="N",
        help="most sets of releases the culprit search tries (default 30)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="longest one pip command or step may run, in seconds (default 1800)",
    )
    return parser


def _user_model_archives() -> Path:
    """``dist/`` of the user's model cache (``SIGHTLINE_MODELS__CACHE_DIR`` or the default)."""
    cache = os.environ.get("SIGHTLINE_MODELS__CACHE_DIR")
    return (Path(cache) if cache else Path.home() / ".cache" / "sightline" / "models") / "dist"


def _project_name(repo: Path) -> str:
    with (repo / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["name"])


def _prepare_workdir(chosen: Path | None) -> tuple[Path, bool]:
    """The work directory and whether it is ours to remove."""
    if chosen is None:
        return Path(tempfile.mkdtemp(prefix="sightline-canary-")), True
    if chosen.exists() and (not chosen.is_dir() or any(chosen.iterdir())):
        raise SetupError(f"--workdir {chosen} must be absent or an empty directory")
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen.resolve(), False


def canary(args: argparse.Namespace, repo: Path, make_env: Callable[..., VenvEnvironment]) -> Report:
    """Steps 1-4 of the module docstring; SetupError when the canary cannot run here."""
    started = time.monotonic()
    tag = platform_tag()
    lock = find_lock(repo / "locks", tag)
    locked = parse_lock(lock.read_text(encoding="utf-8"))
    constraints = repo / "locks" / "constraints.txt"
    held_back = parse_lock(constraints.read_text(encoding="utf-8")) if constraints.is_file() else {}
    project = _project_name(repo)
    workdir, ours = _prepare_workdir(args.workdir)
    report = Report(platform.python_version(), tag, str(lock.relative_to(repo)), [], [])
    report.max_trials = args.max_trials
    try:
        env = make_env(repo, workdir, project, args.timeout)
        env.create()
        log.info("step install: the newest releases pyproject.toml allows (pip shows its progress)")
        installed = env.install_newest()
        report.steps.append(StepResult.from_outcome("install", installed, args.timeout))
        if not installed.ok:
            report.steps[0].verdict = "the newest releases do not install; nothing else ran"
            report.steps += [
                StepResult(s, False, "not run", 0.0, "needs install, which failed") for s in STEPS
            ]
            return report
        report.differences = compute_differences(locked, env.versions(), [project], held_back)
        for d in report.differences:
            log.info("differs from the lock: %s %s → %s", d.name, d.locked or "-", d.newest or "-")
        seeded = env.seed_models(_user_model_archives())
        log.info("linked %d model archive(s) from %s into %s", seeded, _user_model_archives(), env.models)
        results = run_steps(env, list(STEPS), args.timeout)
        report.steps += results.values()
        failing = [r.name for r in results.values() if r.status == "failed"]
        if failing:
            search = search_culprits(env, failing, report.differences, args.max_trials, args.timeout)
            for name, verdict in search.verdicts.items():
                results[name].verdict = verdict
            report.culprits = search.culprits
            report.trials, report.capped, report.untried = search.trials, search.capped, search.untried
        return report
    finally:
        report.seconds = time.monotonic() - started
        if ours and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            report.workdir = str(workdir)


def main(argv: Sequence[str] | None = None, repo: Path = REPO_ROOT) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="\n==> canary: %(message)s")
    try:
        report = canary(args, repo, VenvEnvironment)
    except SetupError as exc:
        sys.stderr.write(f"\nerror: {exc}\n")  # as dev.sh's `die` words it
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_table(report) + "\n")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())

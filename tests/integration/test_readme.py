"""Every command, curl line, code and configuration example in README.md, run as written
against the real default model (tests/readme_examples.py reads them and says how to mark
one that cannot run here; a skipped one is reported with its reason).

How an example runs, kept cheap: one server (`hostbench launch smollm2-135m-instruct`) is
shared by the curl line, the Python client and the commands that talk to a server; a block
that starts its own (`hostbench serve`) gets its own, and its later commands use it. A
foreground `hostbench launch` elsewhere runs with `--dry-run` (the shared server is that
launch, run for real). A load test runs with a light load (2 prompts of 16 tokens, 8 out)
unless the README gives its own; the same command's output is reused by a later output
block. Commands run in a scratch directory where `docs/` is the repository's."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engines.process import free_port
from tests.readme_examples import Example, examples, missing_lines, split_command
from tests.servers import DEFAULT_MODEL, ROOT, ServerProcess, hostbench_env, run_cli

pytestmark = pytest.mark.integration

EXAMPLES = examples()
LIGHT_LOAD = {"--num-prompts": "2", "--input-len": "16", "--output-len": "8"}
SERVER_CLIENTS = ("ps", "stop", "shutdown", "clients")
FIT_CODES = (0, 9)
"""`fit` exits 9 when the model does not fit: a verdict, not a failure of the example."""
TIMEOUT_S = 900


@dataclass
class Ran:
    code: int
    output: str


@dataclass
class Session:
    """What the examples share: a home with the default model, a scratch directory, the
    shared server (started on first need) and the outputs of the commands run so far."""

    home: Path
    workdir: Path
    extra_env: dict[str, str]
    shared: ServerProcess | None = None
    outputs: dict[str, Ran] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = hostbench_env(self.home, self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        return env

    def server(self, command: str = "launch") -> ServerProcess:
        args = (DEFAULT_MODEL,) if command == "launch" else ()
        server = ServerProcess(self.home, args=args, env=self.extra_env, command=command)
        server.wait_ready()
        return server

    def shared_server(self) -> ServerProcess:
        if self.shared is None:
            self.shared = self.server()
        return self.shared

    def run(self, argv: list[str], stdout_file: str | None = None) -> Ran:
        done = subprocess.run(
            argv, cwd=self.workdir, env=self.env, capture_output=True, text=True,
            timeout=TIMEOUT_S, check=False,
        )  # fmt: skip
        if stdout_file:
            (self.workdir / stdout_file).write_text(done.stdout)
        return Ran(done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("readme-home")
    pulled = run_cli(home, "pull", DEFAULT_MODEL)
    assert pulled.returncode == 0, pulled.stderr
    workdir = tmp_path_factory.mktemp("readme-cwd")
    (workdir / "docs").symlink_to(ROOT / "docs")
    found = Session(home, workdir, {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    yield found
    if found.shared is not None:
        found.shared.terminate()


@dataclass
class Block:
    """One sh block's run: a server of its own once it says `hostbench serve`."""

    session: Session
    server: ServerProcess | None = None

    def argv(self, words: list[str]) -> list[str] | None:
        """What to execute for a README command; None: done here (a server started)."""
        program = words[0].removeprefix(".venv/bin/")
        if program == "python":
            return [sys.executable, *words[1:]]
        if program == "curl":
            url = self.session.shared_server().base_url
            return [w.replace("http://127.0.0.1:8080", url) for w in words] + ["-sS", "--fail"]
        assert program == "hostbench", f"no runner for {program!r}: mark the block"
        return self.hostbench(words[1:])

    def hostbench(self, args: list[str]) -> list[str] | None:
        command = args[0] if args else ""
        if command == "serve":
            self.server = self.session.server("serve")
            return None
        if command == "launch":
            if self.server is not None:
                args = [*args, "--port", str(self.server.port)]
            elif "--dry-run" not in args:
                args = [*args, "--dry-run"]
        if command in SERVER_CLIENTS:
            server = self.server or self.session.shared_server()
            args = [*args, "--port", str(server.port)]
        if command == "bench" and len(args) > 1 and args[1] not in ("list", "show", "diff"):
            args = [*args, *[p for k, v in LIGHT_LOAD.items() if k not in args for p in (k, v)]]
            if "--ab" not in args and "--engines" not in args and "--endpoint" not in args:
                args = [*args, "--port", str(self.session.shared_server().port)]
        return [sys.executable, "-m", "app", *args]

    def close(self) -> None:
        if self.server is not None and self.server.proc.poll() is None:
            self.server.terminate()


def expected_codes(words: list[str]) -> tuple[int, ...]:
    return FIT_CODES if "fit" in words[1:2] else (0,)


def run_command(session: Session, block: Block, command: str) -> Ran | None:
    words, stdout_file = split_command(command)
    argv = block.argv(words)
    if argv is None:
        return None
    ran = session.outputs.get(command) or session.run(argv, stdout_file)
    session.outputs[command] = ran
    return ran


def check_sh(session: Session, example: Example) -> list[str]:
    skipped, problems = example.skipped_lines(), []
    block = Block(session)
    try:
        for command in example.commands():
            why = next((why for text, why in skipped.items() if text in command), None)
            if why is not None:
                print(f"skipped `{command}`: {why}")
                continue
            ran = run_command(session, block, command)
            if ran is None:
                continue
            codes = expected_codes(split_command(command)[0])
            if ran.code not in codes or "Traceback" in ran.output:
                problems.append(f"`{command}` exited {ran.code}:\n{ran.output[-2000:]}")
    finally:
        block.close()
    return problems


def check_output(session: Session, example: Example) -> list[str]:
    command, expected = example.expected_output()
    command = command or example.marker("output-of")
    assert command, "an output block needs `$ command`, an output-of marker or a skip marker"
    block = Block(session)
    try:
        ran = run_command(session, block, command)
    finally:
        block.close()
    assert ran is not None
    errors = [line for line in expected if line.startswith("error:")]
    codes = expected_codes(split_command(command)[0])
    failed_wrongly = ran.code == 0 if errors else ran.code not in codes
    if failed_wrongly:
        return [f"`{command}` exited {ran.code}:\n{ran.output[-2000:]}"]
    missing = missing_lines(expected, ran.output, example.marker("numbers vary") is not None)
    return [f"`{command}`: not in its output: {line!r}" for line in missing] + (
        [f"its output:\n{ran.output[-3000:]}"] if missing else []
    )


def check_toml(example: Example) -> list[str]:
    from profiles import Settings
    from profiles.profile import Profile

    data = tomllib.loads(example.text)
    (Profile if "name" in data else Settings).model_validate(data)
    return []


def check_python(session: Session, example: Example) -> list[str]:
    code = example.text.replace("http://127.0.0.1:8080", session.shared_server().base_url)
    ran = session.run([sys.executable, "-c", code])
    if ran.code != 0 or not ran.output.strip():
        return [f"exited {ran.code}:\n{ran.output[-2000:]}"]
    return []


def has_gpu() -> bool:
    import hardware

    return bool(hardware.discover().gpus)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_readme_example(example: Example, request: pytest.FixtureRequest) -> None:
    reason = example.marker("skip")
    if reason is not None:
        pytest.skip(reason)
    gpu_reason = example.marker("skip-if-gpu")
    if gpu_reason is not None and has_gpu():
        pytest.skip(gpu_reason)
    if example.lang == "toml":
        problems = check_toml(example)
    else:
        session = request.getfixturevalue("session")
        checks = {"sh": check_sh, "python": check_python, "": check_output}
        assert example.lang in checks, f"no runner for ```{example.lang}: mark the block"
        problems = checks[example.lang](session, example)
    assert not problems, f"README.md line {example.line}:\n" + "\n".join(problems)


def test_every_block_is_run_or_says_why_not() -> None:
    """A block nobody can run must say so in the README (see tests/readme_examples.py)."""
    unmarked = [
        e.id
        for e in EXAMPLES
        if e.lang not in ("sh", "python", "toml", "")
        or (e.lang == "" and not e.text.startswith("$ ") and not e.markers)
    ]
    assert not unmarked, unmarked

# SPDX-License-Identifier: Apache-2.0
"""Hosting and public CI: .readthedocs.yaml and .github/workflows/ci.yml.

Both files must run the README's commands and name nox sessions that exist;
Read the Docs must install what the docs build imports. Its build commands
run here (all but the package install), and the site they make is checked:
an icon on every page, no sg_execution_times page, the recorded sample output.
"""

from __future__ import annotations

import ast
import html
import os
import re
import shlex
import subprocess
import sys
import time
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import pytest
import sanitizer_rules
import yaml
from build_site import SPHINX_FLAGS
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RTD = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text(encoding="utf-8"))
CI = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
NOXFILE = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
PIP_INSTALL = re.compile(r"^python3? -m pip install (\S+)$")


def readme_quickstart_commands() -> list[str]:
    """The commands of the README's Quickstart block, without their comments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def nox_sessions() -> set[str]:
    """The session names noxfile.py defines (``@nox.session`` or ``@nox.session(name=...)``)."""
    names = set()
    for node in NOXFILE.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            if ast.unparse(target) == "nox.session":
                keywords = call.keywords if call else []
                given = [ast.literal_eval(k.value) for k in keywords if k.arg == "name"]
                names.add(given[0] if given else node.name)
    return names


def sessions_named(command: str) -> list[str]:
    """The sessions a ``nox -s a b`` command runs."""
    words = shlex.split(command.split("&&")[-1])
    assert "nox" in words and "-s" in words, f"not a nox command: {command}"
    return [w for w in words[words.index("-s") + 1 :] if not w.startswith("-")]


def ci_steps(job: str) -> list[dict]:
    return CI["jobs"][job]["steps"]


def requirement_closure(names: set[str]) -> set[str]:
    """``names`` and everything they require, as installed here."""
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports at module level."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


# --------------------------------------------------------------------------- #
# The commands                                                                #
# --------------------------------------------------------------------------- #


def test_the_readme_quickstart_is_what_ci_runs() -> None:
    commands = readme_quickstart_commands()
    assert len(commands) >= 2
    runs = [step.get("run", "").strip() for job in CI["jobs"] for step in ci_steps(job)]
    for command in commands:
        assert command in runs, f"ci.yml does not run the README's {command!r}"
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(c for c in commands if "tests" in sessions_named(c))
    nox_part = test_command.split("&&")[-1].strip()  # .ci/run adds -q to pip
    assert nox_part in ci_run, ".ci/run and the README run different test sessions"


def test_every_session_named_exists() -> None:
    sessions = nox_sessions()
    assert {"lint", "tests", "docs"} <= sessions
    named = [c for c in readme_quickstart_commands() if "nox" in c]
    named += [s["run"] for job in CI["jobs"] for s in ci_steps(job) if "nox" in s.get("run", "")]
    assert named
    for command in named:
        missing = set(sessions_named(command)) - sessions
        assert not missing, f"{command!r} names sessions noxfile.py lacks: {missing}"


def test_ci_installs_chromium_before_the_browser_tests() -> None:
    on = CI.get("on", CI.get(True))  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(on)
    test_command = next(c for c in readme_quickstart_commands() if "tests" in sessions_named(c))
    (job,) = [j for j in CI["jobs"] if any(s.get("run") == test_command for s in ci_steps(j))]
    runs = [step.get("run", "") for step in ci_steps(job)]
    test_step = runs.index(test_command)
    install = re.compile(r"apt-get install .*\bchromium\b")
    chromium = next((i for i, run in enumerate(runs) if install.search(run)), None)
    assert chromium is not None, f"CI job {job} installs no chromium"
    assert chromium < test_step
    assert ci_steps(job)[test_step].get("env", {}).get("REQUIRE_BROWSER") == "1"
    # The browser tests expect Debian's /usr/bin/chromium: a Debian image.
    assert "bookworm" in CI["jobs"][job]["container"] or "trixie" in CI["jobs"][job]["container"]
    oldest = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert oldest in CI["jobs"][job]["strategy"]["matrix"]["python"]


def test_read_the_docs_builds_as_the_docs_session_does() -> None:
    assert RTD["version"] == 2
    assert RTD["build"]["os"].startswith("ubuntu-")
    python = tuple(int(p) for p in str(RTD["build"]["tools"]["python"]).split("."))
    oldest = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    oldest = tuple(int(p) for p in oldest.split("."))
    assert python >= oldest
    (build,) = [c for c in RTD["build"]["commands"] if "docs/build_site.py" in c]
    words = shlex.split(build)
    env = [w for w in words if re.fullmatch(r"[A-Z_]+=\S*", w)]
    assert env in ([], ["GALLERY_EXECUTE=0"])  # no GPU on Read the Docs
    words = words[len(env) :]
    assert words[:3] == ["python", "docs/build_site.py", "$READTHEDOCS_OUTPUT/html"]
    options = words[3:]
    if "-d" in options:  # where the doctrees go does not change the site
        del options[options.index("-d") : options.index("-d") + 2]
    assert options in ([], ["-b", "html"])
    assert not set(SPHINX_FLAGS) & set(options), "the flags are build_site.py's to give"
    assert RTD.get("sphinx", {}).get("configuration", "docs/conf.py") == "docs/conf.py"


def packages_distributions() -> dict[str, list[str]]:
    """Importable top-level names -> distributions. Python 3.10's
    ``importlib.metadata.packages_distributions`` reads only ``top_level.txt``,
    which wheels such as numpy's lack; the installed files say it too."""
    found: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        names = set((dist.read_text("top_level.txt") or "").split())
        for file in dist.files or []:
            top = file.parts[0]
            if len(file.parts) > 1 and ".dist-info" not in top and top != "..":
                names.add(top)
            elif top.endswith(".py"):
                names.add(top[:-3])
        for name in names:
            found.setdefault(name, []).append(dist.metadata["Name"])
    return found


def test_read_the_docs_installs_what_the_docs_build_imports() -> None:
    installs = [m.group(1) for c in RTD["build"]["commands"] if (m := PIP_INSTALL.match(c))]
    assert installs, "no pip install in .readthedocs.yaml"
    extras = set()
    for target in installs:
        match = re.fullmatch(r"\.\[([\w,-]+)\]", target.strip("\"'"))
        assert match, f"Read the Docs installs {target}, not the project's extras"
        extras.update(match.group(1).split(","))
    optional = PYPROJECT["project"]["optional-dependencies"]
    assert extras <= set(optional), f"unknown extras {extras - set(optional)}"
    requirements = list(PYPROJECT["project"]["dependencies"])
    requirements += [r for extra in extras for r in optional[extra]]
    installed = requirement_closure({Requirement(r).name for r in requirements})
    # What conf.py loads: its extensions and theme, and the module autodoc imports.
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    extensions = conf.split("extensions = [")[1].split("]")[0]
    modules = set(re.findall(r'^\s*"(\w+)(?:\.\w+)*",$', extensions, re.M))
    modules.add(re.search(r'^html_theme = "(\w+)"', conf, re.M).group(1))
    modules |= imported_packages(ROOT / "samples" / "interoperability" / "cuda_python_common.py")
    local = {"interop_docs", "preflight", "__future__", *sys.stdlib_module_names}
    distributions = packages_distributions()
    for module in sorted(modules - local):
        provided = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert provided, f"{module} is not installed here, so this test cannot map it"
        assert provided & installed, f"docs import {module} ({provided}): not in extras {extras}"


# --------------------------------------------------------------------------- #
# The build                                                                   #
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def rtd_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run .readthedocs.yaml's commands here, in the test's interpreter (its packages
    stand in for the install command). Returns $READTHEDOCS_OUTPUT/html."""
    tmp = tmp_path_factory.mktemp("readthedocs")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"  # the commands say `python`
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "READTHEDOCS_OUTPUT": str(tmp / "output"),
        "READTHEDOCS": "True",
    }
    env.pop("GALLERY_EXECUTE", None)  # as on Read the Docs
    start = time.perf_counter()
    for command in RTD["build"]["commands"]:
        if PIP_INSTALL.match(command):
            continue
        bash = ["bash", "-c", command]
        proc = subprocess.run(bash, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.fail(
                f"{command}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}",
                pytrace=False,
            )
    print(f"\nRead the Docs commands ran in {time.perf_counter() - start:.1f} s")
    return tmp / "output" / "html"


class IconLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.icons: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and "icon" in (attributes.get("rel") or "").split():
            self.icons.append(attributes.get("href") or "")


def test_every_page_links_an_icon_that_exists(rtd_site: Path) -> None:
    assets = {"_static", "_sources", "_downloads", "_images"}  # theme templates, not pages
    pages = [p for p in rtd_site.rglob("*.html") if p.relative_to(rtd_site).parts[0] not in assets]
    assert len(pages) >= 8
    for page in pages:
        parser = IconLinks()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.icons, f"{page.relative_to(rtd_site)} links no icon"
        for href in parser.icons:
            assert not re.match(r"\w+:", href), f"{page.name}: icon {href} is not ours"
            target = (page.parent / href.split("?")[0]).resolve()
            assert target.is_file(), f"{page.relative_to(rtd_site)}: icon {href} does not exist"


def test_no_execution_times_page_is_built(rtd_site: Path) -> None:
    assert (rtd_site / "index.html").is_file()
    assert not [p for p in rtd_site.rglob("*") if "sg_execution_times" in p.name]
    assert "sg_execution_times" not in (rtd_site / "searchindex.js").read_text(encoding="utf-8")


def test_sample_pages_show_the_recorded_output(rtd_site: Path) -> None:
    recorded = sorted((ROOT / "docs" / "recorded_outputs").glob("*.txt"))
    assert recorded
    for output in recorded:
        page = html.unescape((rtd_site / "auto_samples" / f"{output.stem}.html").read_text(encoding="utf-8"))
        first_line = output.read_text(encoding="utf-8").strip().splitlines()[0]
        # under each cell (a recording of the sample as it is), or whole, after the cells
        under_cells = re.search(r'class="sphx-glr-script-out\b', page)
        assert under_cells or first_line in page, output.stem


def sanitizer_report(*kernels: str, total: int | None = None) -> str:
    """compute-sanitizer's initcheck output without backtraces: one block per error;
    a kernel named "overflow" stands for the tool's error-buffer overflow note."""
    overflow = "========= Warning: Error buffer overflow has been detected. Some records have been dropped\n"
    blocks = [
        overflow
        if kernel == "overflow"
        else "========= Uninitialized __global__ memory read of size 1 bytes\n"
        f"=========     at void {kernel}<(int)2>(nvjpegImage_t, NppiSize)+0x4d0\n"
        "=========     by thread (0,3,0) in block (8,0,0)\n"
        "=========     Address 0x207740180\n"
        "=========\n"
        for kernel in kernels
    ]
    count = len(kernels) if total is None else total
    summary = f"========= ERROR SUMMARY: {count} errors\n"
    return "========= COMPUTE-SANITIZER\nsample output\n" + "".join(blocks) + summary


def test_sanitizer_errors_are_accepted_only_inside_the_named_library() -> None:
    """A known library's own errors pass; one error anywhere else, or an unprinted one, fails."""
    foreign = sanitizer_rules.foreign_errors
    ours = "nvjpeg::ycbcr_to_format_kernel_roi", "nvjpeg::rgba2rgb", "nvjpeg::rgba2rgb"
    kernels = ["nvjpeg::rgba2rgb", "nvjpeg::ycbcr_to_format_kernel_roi"]
    assert foreign(sanitizer_report(*ours), "nvjpeg::") == (3, 0, kernels)
    assert foreign(sanitizer_report(*ours, "<unnamed>::LinearResize"), "nvjpeg::") is None
    assert foreign(sanitizer_report(*ours, "cvcuda::nvjpeg::lookalike"), "nvjpeg::") is None
    assert foreign(sanitizer_report(*ours, total=4), "nvjpeg::") is None  # one error not printed
    assert foreign("no summary at all", "nvjpeg::") is None
    # an overflow after one of the library's launches: its dropped records are that launch's
    skipped = "========= 6219520 errors were skipped (error buffer overflow).\n"
    assert foreign(sanitizer_report(*ours, "overflow") + skipped, "nvjpeg::") == (4, 6219520, kernels)
    assert foreign(sanitizer_report("overflow", *ours), "nvjpeg::") is None  # whose launch?
    resize_then_overflow = sanitizer_report(*ours, "<unnamed>::LinearResize", "overflow")
    assert foreign(resize_then_overflow, "nvjpeg::") is None


def test_sanitizer_known_findings_name_a_sample_a_tool_a_library_and_why() -> None:
    """Each accepted finding is a real sample and tool, a library namespace and a reason."""
    known = sanitizer_rules.KNOWN
    for (sample, tool), (namespace, reason) in known.items():
        assert (ROOT / "samples" / "interoperability" / sample).is_file(), sample
        assert tool in sanitizer_rules.TOOLS, tool
        assert namespace.endswith("::") and len(reason) > 60, (namespace, reason)
    # only initcheck of the samples that decode with nvImageCodec: every other run must report 0 errors
    assert set(known) == {("nvimagecodec_interop.py", "initcheck"), ("jpeg_batch_pipeline.py", "initcheck")}


def test_a_sanitizer_run_passes_on_0_errors_and_exit_0_only() -> None:
    verdict = sanitizer_rules.verdict
    clean = "========= ERROR SUMMARY: 0 errors\n"
    assert verdict("cuda_python_interop_1.py", "memcheck", clean, 0) == (True, "ERROR SUMMARY: 0 errors")
    assert verdict("cuda_python_interop_1.py", "memcheck", clean, 1) == (False, "ERROR SUMMARY: 0 errors (exit 1)")
    one = "========= ERROR SUMMARY: 1 error\n"
    assert verdict("cuda_python_interop_1.py", "memcheck", one, 97) == (False, "ERROR SUMMARY: 1 error (exit 97)")
    race = "========= RACECHECK SUMMARY: 3 hazards displayed (2 errors, 1 warning)\n"
    assert verdict("cupy_interop.py", "racecheck", race, 97) == (False, "ERROR SUMMARY: 2 errors (exit 97)")
    assert verdict("cupy_interop.py", "synccheck", "it crashed", 1) == (False, "no ERROR SUMMARY line (exit 1)")


def test_a_known_finding_passes_only_where_it_is_known() -> None:
    report = sanitizer_report("nvjpeg::rgba2rgb", "nvjpeg::rgba2rgb")
    ok, line = sanitizer_rules.verdict("nvimagecodec_interop.py", "initcheck", report, 97)
    assert ok and line.startswith("ERROR SUMMARY: 0 errors outside nvjpeg::; 2 inside it (nvjpeg::rgba2rgb)")
    assert not sanitizer_rules.verdict("nvimagecodec_interop.py", "memcheck", report, 97)[0]  # another tool
    assert not sanitizer_rules.verdict("cupy_interop.py", "initcheck", report, 97)[0]  # another sample
    assert not sanitizer_rules.verdict("nvimagecodec_interop.py", "initcheck", report, 1)[0]  # the sample failed


def test_sanitizer_commands_carry_each_runs_flags() -> None:
    python, sample = "python3", ROOT / "samples" / "interoperability" / "nvimagecodec_interop.py"
    memcheck = sanitizer_rules.command("cs", "memcheck", sample, python)
    flags = ["--tool", "memcheck", "--report-api-errors", "no", "--error-exitcode", "97"]
    assert memcheck == ["cs", *flags, python, str(sample)]
    initcheck = sanitizer_rules.command("cs", "initcheck", sample, python)
    assert "--show-backtrace" in initcheck and "--report-api-errors" not in initcheck
    plain = sanitizer_rules.command("cs", "racecheck", sample.with_name("cuda_python_interop_1.py"), python)
    assert plain[:3] == ["cs", "--tool", "racecheck"] and plain[3:5] == ["--error-exitcode", "97"]

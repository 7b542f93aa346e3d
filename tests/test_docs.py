"""The repository documents itself: generated docs are current, cited sections exist, no machine paths.

* ``docs/rules.md`` is what ``docs/generate.py`` writes from the rules' metadata today, and
  ``docs/facets.md`` what it writes from the facet declarations (``auditor/facets.py``).
* Every ``§N`` / ``§N.M`` the code cites resolves to a heading of the document it names:
  ``aws-semantics`` → ``docs/aws-semantics.md``; ``anchors-healthomics`` (or ``anchors``) and
  ``healthomics-pitfalls`` → ``docs/healthomics-pitfalls.md``. A bare ``(§N.M)`` belongs to
  ``aws-semantics`` when the module's docstring names it.
* No text file of the repository holds an absolute path of somebody's machine, or points at the
  research notes that live outside the repository.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CITING_DIRS = ("auditor", "rules", "remediations", "tests", "benchmarks", "deploy")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", "node_modules"}

AWS = "aws-semantics.md"
PITFALLS = "healthomics-pitfalls.md"

# A document name as the code writes it; "anchors" alone is the research note's short name.
_DOC_NAME = re.compile(r"(?P<name>aws-semantics|anchors-healthomics|healthomics-pitfalls|\banchors\b)(?:\.md)?")
_SECTION = re.compile(r"§\s?(?P<num>\d+(?:\.\d+)*)")
# What may stand between a document name (or the previous section) and a section it governs:
# "aws-semantics.md §1.3, §1.5", "(aws-semantics.md\n  §1.3)", "aws-semantics §2; ..." across comment lines.
_GAP = re.compile(r"[\s#,;(]*(?:(?:and|or)\s+)?")
_TARGET = {
    "aws-semantics": AWS,
    "anchors-healthomics": PITFALLS,
    "anchors": PITFALLS,
    "healthomics-pitfalls": PITFALLS,
}
_HEADING = re.compile(r"^#{2,6}\s+(?P<num>\d+(?:\.\d+)*)\.?\s", re.MULTILINE)


@dataclass(frozen=True)
class Citation:
    path: str  # relative to the repository
    line: int
    section: str
    named: str | None  # the document name written before it, or None for a bare "§N.M"
    target: str | None  # the docs/ file it must resolve in; None when it cannot be attributed

    def __str__(self) -> str:
        written = f"{self.named} " if self.named else ""
        return f"{self.path}:{self.line}: {written}§{self.section}"


def _is_text(path: Path) -> bool:
    try:
        head = path.read_bytes()[:8192]
    except OSError:
        return False
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut by the 8 KiB slice
    return True


def _docstring_names_aws(path: Path, text: str) -> bool:
    if path.suffix == ".py":
        try:
            doc = ast.get_docstring(ast.parse(text)) or ""
        except SyntaxError:
            doc = ""
    else:
        doc = "\n".join(text.splitlines()[:30])
    return "aws-semantics" in doc


def _citations_in(path: Path, root: Path = ROOT) -> list[Citation]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if "§" not in text:
        return []
    rel = path.relative_to(root).as_posix()
    default = AWS if _docstring_names_aws(path, text) else None
    tokens = sorted(
        [(m.start(), m.end(), "doc", m.group("name")) for m in _DOC_NAME.finditer(text)]
        + [(m.start(), m.end(), "section", m.group("num")) for m in _SECTION.finditer(text)]
    )
    out: list[Citation] = []
    governing: str | None = None  # document name governing the chain of sections being read
    last_end = 0
    for start, end, kind, value in tokens:
        adjacent = _GAP.fullmatch(text[last_end:start]) is not None
        if kind == "doc":
            governing = value
        else:
            named = governing if adjacent else None
            target = _TARGET[named] if named else default
            out.append(Citation(rel, text.count("\n", 0, start) + 1, value, named, target))
            governing = named
        last_end = end
    return out


@cache
def citations() -> tuple[Citation, ...]:
    out: list[Citation] = []
    this_file = Path(__file__).resolve()
    for top in CITING_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or SKIP_DIRS.intersection(path.parts) or path.resolve() == this_file:
                continue
            if _is_text(path):
                out.extend(_citations_in(path))
    return tuple(out)


@cache
def headings(doc: str) -> frozenset[str]:
    return frozenset(m.group("num") for m in _HEADING.finditer((DOCS / doc).read_text(encoding="utf-8")))


# --- generated rule reference ----------------------------------------------------------------


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rules_md_is_what_the_generator_writes() -> None:
    generator = _generator()
    expected = generator.render(generator.rows())
    on_disk = (DOCS / "rules.md").read_text(encoding="utf-8") if (DOCS / "rules.md").exists() else ""
    assert on_disk == expected, "docs/rules.md is stale: run `python docs/generate.py` and commit the result"


def test_rules_md_has_one_section_per_rule_in_registry_order() -> None:
    generator = _generator()
    ids = [row["id"] for row in generator.rows()]
    assert ids, "no rules registered"
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    assert re.findall(r"^## (\S+)$", text, re.MULTILINE) == ids


def test_readme_rule_table_is_what_the_generator_writes() -> None:
    generator = _generator()
    items = generator.rows()
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert readme == generator.readme_text(items), "README.md's rule table is stale: run `python docs/generate.py`"
    # one row per rule, each linking to its section of docs/rules.md
    for row in items:
        assert f"[`{row['id']}`](docs/rules.md#{row['id']})" in readme, row["id"]


def test_facets_md_is_what_the_generator_writes() -> None:
    generator = _generator()
    expected = generator.render_facets(generator.facet_rows())
    on_disk = (DOCS / "facets.md").read_text(encoding="utf-8") if (DOCS / "facets.md").exists() else ""
    assert on_disk == expected, "docs/facets.md is stale: run `python docs/generate.py` and commit the result"


def test_facets_md_has_one_row_per_declared_facet() -> None:
    from auditor.facets import FACETS

    text = (DOCS / "facets.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| `(\w+)` \| [^`]", text, re.MULTILINE) == list(FACETS)


@pytest.mark.parametrize("stale_name", ["rules.md", "facets.md", "README.md"])
def test_generator_check_mode_detects_a_stale_file(
    stale_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = _generator()
    monkeypatch.setattr(generator, "OUTPUT", tmp_path / "rules.md")
    monkeypatch.setattr(generator, "FACETS_OUTPUT", tmp_path / "facets.md")
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    readme = tmp_path / "README.md"  # the hand-written README, whose rule table the generator rewrites
    readme.write_text((DOCS.parent / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(generator, "README", readme)
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
    stale = "# out of date\n"
    if stale_name == "README.md":  # the README stays hand-written around an out-of-date (here empty) rule table
        text = readme.read_text(encoding="utf-8")
        start, end = text.index(generator.README_START), text.index(generator.README_END)
        stale = text[:start] + generator.README_START + "\n" + text[end:]
    (tmp_path / stale_name).write_text(stale, encoding="utf-8")
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0


# --- § citations -----------------------------------------------------------------------------


def test_citation_scanner_reads_the_forms_the_code_uses(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Module citing aws-semantics.md."""\n'
        "# (aws-semantics.md §1.3, §1.5, §7.2) and (anchors-healthomics.md §2.2)\n"
        "# split over lines (aws-semantics.md\n#  §4.1); bare (§9.3); short (anchors §1.1)\n",
        encoding="utf-8",
    )
    found = [(c.line, c.section, c.target) for c in _citations_in(sample, tmp_path)]
    assert found == [
        (2, "1.3", AWS),
        (2, "1.5", AWS),
        (2, "7.2", AWS),
        (2, "2.2", PITFALLS),
        (4, "4.1", AWS),
        (4, "9.3", AWS),
        (4, "1.1", PITFALLS),
    ]


def test_every_cited_section_exists_in_docs() -> None:
    found = citations()
    assert len(found) >= 40, f"expected the code's § citations, found {len(found)}: is the scanner broken?"
    attributed = [c for c in found if c.target is not None]
    assert {c.target for c in attributed} == {AWS, PITFALLS}
    missing = [
        f"{c} -> docs/{c.target} has no heading {c.section}" for c in attributed if c.section not in headings(c.target)
    ]
    assert not missing, "cited sections missing from docs/:\n" + "\n".join(missing)


def test_every_section_citation_can_be_attributed() -> None:
    """A bare "§N.M" must sit in a module whose docstring names aws-semantics, or name its document."""
    orphans = [str(c) for c in citations() if c.target is None]
    assert not orphans, "§ citations that name no document:\n" + "\n".join(orphans)


def test_docs_keep_the_research_note_numbering() -> None:
    aws = headings(AWS)
    expected = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
    expected |= {f"1.{i}" for i in range(1, 7)} | {f"3.{i}" for i in range(1, 5)} | {f"4.{i}" for i in range(1, 5)}
    expected |= {"7.1", "7.2"} | {f"8.{i}" for i in range(1, 5)} | {f"9.{i}" for i in range(1, 6)}
    expected |= {f"10.{i}" for i in range(1, 6)}
    assert expected <= aws, f"docs/{AWS} lacks sections {sorted(expected - aws)}"
    assert {"1", "1.1", "2", "2.2"} <= headings(PITFALLS)


def test_citations_name_documents_inside_docs() -> None:
    outside = [str(c) for c in citations() if c.named in {"anchors-healthomics", "anchors"}]
    assert not outside, "citations naming the research note instead of docs/healthomics-pitfalls.md:\n" + "\n".join(
        outside
    )


# --- no machine paths, no pointers outside the repository -------------------------------------

# Written with a character class so this file does not match itself.
_MACHINE_PATHS = [
    re.compile(r"(?<![\w.:/-])/[w]ork/"),
    re.compile(r"(?<![\w.:/-])/[h]ome/[A-Za-z_][\w.-]*"),
    re.compile(r"(?<![\w.:/-])/[U]sers/[A-Za-z][\w.-]*"),
    re.compile(r"(?<![\w.:/-])/[r]oot/"),
    re.compile(r"\b[A-Za-z]:\\{1,2}[U]sers\b", re.IGNORECASE),
]
_OUTSIDE_NOTES = [re.compile(r"\.\./[s]hared\b"), re.compile(r"[s]hared/research\b")]
# The CI entry point describes the CI checkout (a sibling folder beside the clone), not a citation.
_OUTSIDE_NOTES_EXEMPT = (".ci/",)


def _git_files(*args: str) -> list[str]:
    try:
        result = subprocess.run(["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:  # not a git checkout: nothing to list
        pytest.skip(f"git ls-files unavailable: {exc}")
    return [p for p in result.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _is_virtualenv_file(rel: str) -> bool:
    """Files of an un-ignored virtualenv (e.g. a side one made for a tool) are not the project's text."""
    parts = Path(rel).parts
    return any((ROOT.joinpath(*parts[: i + 1]) / "pyvenv.cfg").is_file() for i in range(len(parts) - 1))


@cache
def repository_text_files() -> tuple[str, ...]:
    """Tracked files plus untracked, non-ignored ones; existing text files only."""
    names = sorted(set(_git_files()) | set(_git_files("--others", "--exclude-standard")))
    return tuple(n for n in names if (ROOT / n).is_file() and not _is_virtualenv_file(n) and _is_text(ROOT / n))


def _hits(patterns: list[re.Pattern[str]], exempt: tuple[str, ...] = ()) -> list[str]:
    out = []
    for rel in repository_text_files():
        if rel.startswith(exempt):
            continue
        text = (ROOT / rel).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if any(p.search(line) for p in patterns):
                out.append(f"{rel}:{number}: {line.strip()[:160]}")
    return out


def test_no_absolute_machine_paths_in_repository_text() -> None:
    hits = _hits(_MACHINE_PATHS)
    assert not hits, "absolute paths of a machine (use paths relative to the repository):\n" + "\n".join(hits)


def test_no_pointers_to_research_notes_outside_the_repository() -> None:
    hits = _hits(_OUTSIDE_NOTES, _OUTSIDE_NOTES_EXEMPT)
    assert not hits, "references to notes outside the repository (cite docs/ instead):\n" + "\n".join(hits)


def test_machine_path_patterns() -> None:
    bad = ["see /" + "work/x", "/" + "home/alice/src", "/" + "Users/Bob/x", "cd /" + "root/", "C:\\" + "Users\\x"]
    good = ["https://example.com/" + "work/x", "docs/aws-semantics.md", "~/project", "s3://bucket/" + "home/x"]
    assert all(any(p.search(s) for p in _MACHINE_PATHS) for s in bad)
    assert not any(p.search(s) for p in _MACHINE_PATHS for s in good)


def test_relative_links_in_readme_and_docs_point_at_files_that_exist() -> None:
    """The README is a front page into docs/: a moved or renamed document must not leave a dead link."""
    import re

    dead = []
    for page in [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                dead.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not dead, "\n".join(dead)
